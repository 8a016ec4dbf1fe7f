import type { AsyncJob, AsyncPageMetadata, AsyncQueryRecord } from '@halo/contracts';

/** One stored result page, ready to be read once. */
export interface AsyncPage {
  metadata: AsyncPageMetadata;
  /** Bytes of the page's JSON. */
  size: number;
  data: ReadableStream<Uint8Array>;
  /** Resolves with the read's error (digest mismatch, connection lost) once `data` is done, else null. */
  error: Promise<Error | null>;
}

/** The facade's side of async queries: status records, the work queue and the result pages (JetStream). */
export interface AsyncQueryStore {
  /** Writes the record (state initialising), queues the job, then marks it queued; returns the record as stored. */
  submit(record: AsyncQueryRecord, job: AsyncJob): Promise<AsyncQueryRecord>;
  get(queryId: string): Promise<AsyncQueryRecord | null>;
  /** Keeps the record of a finished immediate query (no job, no pages) until the result TTL ends. */
  remember(record: AsyncQueryRecord): Promise<void>;
  /** Marks a query that has not finished `cancelled` and tells the worker running it; AppError('query_finished') if it already finished. */
  cancel(queryId: string): Promise<AsyncQueryRecord | null>;
  /** A result page, or null when it no longer exists (expired). */
  page(queryId: string, page: number): Promise<AsyncPage | null>;
}
