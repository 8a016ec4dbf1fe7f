export { buildApp, BODY_LIMIT } from './app.ts';
export type { Authenticator, FacadeDeps, QueryClient, QueryExecution, SiteDirectory } from './deps.ts';
export { keyAuthenticator, parseSubscriptionKeys, type SubscriptionKey } from './auth.ts';
export { RegistryDirectory, type RegistryDirectoryOptions } from './registry-directory.ts';
export { NatsQueryClient, type NatsQueryClientOptions } from './nats-query-client.ts';
export type { AsyncPage, AsyncQueryStore } from './async-deps.ts';
export { NatsAsyncQueryStore, type NatsAsyncQueryStoreOptions } from './async-nats-store.ts';
export { startFacade, type RunningFacade, type StartFacadeOptions } from './start.ts';
