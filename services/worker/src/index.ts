export { startWorker, type RunningWorker, type WorkerDeps } from './worker.ts';
export { openAsyncStore, type AsyncStore, type AsyncStoreOptions } from './store.ts';
