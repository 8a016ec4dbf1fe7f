export { startAgent, type Agent, type AgentDeps } from './agent.ts';
export { AgentConfig, DatabaseEntry, loadAgentConfig, AgentConfigError, type AgentConfigInput } from './config.ts';
export { StateDirectory } from './state.ts';
