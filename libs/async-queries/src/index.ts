// Public entry of @halo/async-queries: what facades and workers both know about async queries in JetStream.
export { openAsyncResources, openWorkConsumer, type AsyncResources, type AsyncResourcesOptions } from './resources.ts';
export { AsyncRecords, isRevisionConflict, withState, type StoredRecord } from './records.ts';
