export { startAgent, type Agent, type AgentDeps } from './agent.ts';
export { AgentConfig, DatabaseEntry, loadAgentConfig, AgentConfigError, type AgentConfigInput } from './config.ts';
export { StateDirectory, AgentState, SiteState, type StateOptions } from './state.ts';
export { MachineFingerprint, FingerprintError, fingerprintFromFile, machineFingerprint, type FingerprintSource } from './fingerprint.ts';
export { ensureLinkCredentials, EnrolmentError, CREDS_FILE } from './enrolment.ts';
