// Public entry of @halo/demo: the whole local system on one machine (`npm start`), for people and tests.
export { startDemo } from './start-demo.ts';
export type { DemoDatabaseSite, DemoOptions, RunningDemo } from './start-demo.ts';
export type { DemoDatabase } from './sample-practices.ts';
export { demoBrowserUrls, demoCommands, demoQueryBody, shellQuote, summaryLines, DEMO_PATIENT } from './demo-summary.ts';
export type { DemoCommand, DemoSite, DemoSummary } from './demo-summary.ts';
export { DEMO_PRACTICES } from './sample-practices.ts';
export { DEMO_INTEGRATOR_ID } from './subscription-key.ts';
export { DEFAULT_RESTART_POLICY, describeExit } from './child-service.ts';
export type { RestartPolicy, UnexpectedExit } from './child-service.ts';
export { facadeClient, type FacadeCall, type FacadeAnswer } from './facade-client.ts';
export { startCluster } from './start-cluster.ts';
export type { ClusterOptions, ClusterProcess, RunningCluster } from './start-cluster.ts';
