import { z } from 'zod';
import { ErrorCodes } from './errors.ts';
import { Guid } from './identifiers.ts';
import { ColumnInfo, ExecutionMode, QueryCommand, ResultParameter } from './query.ts';

/**
 * Async queries (ARCHITECTURE §2, §6): the facade records a query in KV `async_queries` and publishes a job on
 * the JetStream work-queue stream; a worker runs it against the agent and writes the result to the object store
 * `async_results` in pages. Everything both sides must agree on lives here.
 */
export const ASYNC_LIMITS = {
  /** Longest an async query may wait for its site (ms, as Halo). */
  maxTimeInQueueMs: 7_200_000,
  defaultTimeInQueueMs: 3_600_000,
  /** Default lifetime of results (and of a finished query's status) after the first page was written. */
  defaultResultTtlMs: 24 * 60 * 60 * 1000,
  /** Target raw JSON bytes of one result page. */
  pageBytes: 1024 * 1024,
  /** Most ids in one `POST .../queries/status`. */
  maxStatusBatch: 100,
} as const;

/** JetStream names shared by the facade (producer, reader) and the worker (consumer, writer). */
export const ASYNC_NAMES = {
  /** KV bucket: queryId -> AsyncQueryRecord. */
  queries: 'async_queries',
  /** Object store: `<queryId>/<page>` -> JSON array of row objects. */
  results: 'async_results',
  /** Work-queue stream over `subjects.asyncWorkAll()`. */
  workStream: 'ASYNC_WORK',
  /** The workers' shared durable pull consumer. */
  workConsumer: 'async-worker',
} as const;

/**
 * How long a job may stay in the work stream: longer than any maxTimeInQueue plus a run, so a job expires
 * from the stream only after its worker would have marked it expiredInQueue anyway.
 */
export const ASYNC_WORK_MAX_AGE_MS = 6 * 60 * 60 * 1000;

/** How long a status record outlives its results, answering 410 in between (then 404). */
export const ASYNC_RECORD_GRACE_MS = 24 * 60 * 60 * 1000;

/** KV TTL of `async_queries`: a record lives through queueing, its results' TTL and a grace period. */
export function asyncRecordTtlMs(resultTtlMs: number): number {
  return ASYNC_LIMITS.maxTimeInQueueMs + resultTtlMs + ASYNC_RECORD_GRACE_MS;
}

export const ASYNC_QUERY_STATES = [
  'initialising', 'queued', 'executing', 'uploading', 'successful',
  'initialisationFailed', 'expiredInQueue', 'executionFailed', 'uploadFailed', 'cancelled',
] as const;
export const AsyncQueryState = z.enum(ASYNC_QUERY_STATES);
export type AsyncQueryState = z.infer<typeof AsyncQueryState>;

/** States after which nothing changes any more (except expiry). */
export const TERMINAL_ASYNC_STATES: ReadonlySet<AsyncQueryState> = new Set([
  'successful', 'initialisationFailed', 'expiredInQueue', 'executionFailed', 'uploadFailed', 'cancelled',
]);

export function isTerminalAsyncState(state: AsyncQueryState): boolean {
  return TERMINAL_ASYNC_STATES.has(state);
}

/** Body of `POST /integrator/sites/{siteId}/queries/async`: the immediate shape with a longer queue time. */
export const AsyncQueryBody = z.object({
  /** Milliseconds the query may wait for its site (offline, or busy) before it expires in the queue (Halo: 0..7200000, default 3600000). */
  maxTimeInQueue: z.number().int().nonnegative().max(ASYNC_LIMITS.maxTimeInQueueMs).optional(),
  catalogue: z.string().min(1).max(128).optional(),
  command: QueryCommand,
}).strict();
export type AsyncQueryBody = z.infer<typeof AsyncQueryBody>;

/** The work-queue message: everything a worker needs to run the query (query text travels only here). */
export const AsyncJob = z.object({
  queryId: Guid,
  integratorId: z.string().min(1).max(128),
  haloGuid: Guid,
  catalogue: z.string().max(128).optional(),
  command: QueryCommand,
  /** Epoch ms the query was accepted. */
  submittedAt: z.number().int().positive(),
  /** Epoch ms after which a query that has not started executing is expiredInQueue. */
  queueDeadline: z.number().int().positive(),
});
export type AsyncJob = z.infer<typeof AsyncJob>;

/** ISO timestamp of each state a query reached. */
export const AsyncStatusTiming = z.partialRecord(AsyncQueryState, z.string());
export type AsyncStatusTiming = z.infer<typeof AsyncStatusTiming>;

export const AsyncQueryError = z.object({ code: z.enum(ErrorCodes), message: z.string().max(1000), sqlServerError: z.number().int().optional() });
export type AsyncQueryError = z.infer<typeof AsyncQueryError>;

/** A run that lost its agent (`agent_lost`): which run it was, why, and when (ISO). */
export const AsyncFailedAttempt = z.object({ attempt: z.number().int().positive(), code: z.enum(ErrorCodes), at: z.string() });
export type AsyncFailedAttempt = z.infer<typeof AsyncFailedAttempt>;

/** KV `async_queries` value (no query text, parameters or rows). */
export const AsyncQueryRecord = z.object({
  id: Guid,
  integratorId: z.string(),
  siteId: Guid,
  linkGuid: Guid,
  executionMode: ExecutionMode,
  /** `immediate`: an immediate query kept (without rows) so `GET .../queries/{id}` answers for it too; absent: async. */
  mode: z.enum(['async', 'immediate']).optional(),
  state: AsyncQueryState,
  statusTiming: AsyncStatusTiming,
  /** Epoch ms. */
  createdAt: z.number().int(),
  queueDeadline: z.number().int(),
  /** Runs started (a run restarts from scratch after a worker died mid-query, or a read after its agent was lost). */
  attempts: z.number().int().nonnegative().default(0),
  /** Runs that lost their agent, oldest first; a read is run again while attempts and maxTimeInQueue allow. */
  failedAttempts: z.array(AsyncFailedAttempt).max(100).optional(),
  /**
   * When a nonQuery was last sent to its agent (cleared when the agent refused it unrun): a job redelivered after
   * its worker died finds it and does not run the write again.
   */
  writeSentAt: z.string().optional(),
  /** Bytes of the command's JSON and of the request body, as Halo reports them (records written before: absent). */
  commandSize: z.number().int().nonnegative().optional(),
  requestSize: z.number().int().nonnegative().optional(),
  /** Set only once every page exists. */
  pageCount: z.number().int().nonnegative().optional(),
  /** Rows and JSON bytes of each page, page 1 first (set with pageCount). */
  pages: z.array(z.object({ rowsCount: z.number().int().nonnegative(), bytes: z.number().int().nonnegative() })).optional(),
  rowCount: z.number().int().nonnegative().optional(),
  /** Bytes of the result's rows as JSON arrays (as the agent counted them). */
  size: z.number().int().nonnegative().optional(),
  columns: z.array(ColumnInfo).optional(),
  affected: z.number().int().nonnegative().optional(),
  /** A stored procedure's output, inputOutput and returnValue parameters with their values. */
  parameters: z.array(ResultParameter).optional(),
  /** First cell of the first row, for `scalar`. */
  scalar: z.union([z.string(), z.number(), z.boolean(), z.null()]).optional(),
  metrics: z.object({ queuedDuration: z.number(), sqlExecutionDuration: z.number() }).optional(),
  error: AsyncQueryError.optional(),
  /** Why a queued query is still waiting (site_offline, agent_busy, registry_unavailable). */
  queueReason: z.enum(ErrorCodes).optional(),
  /** Epoch ms after which status and results answer 410. */
  expiresAt: z.number().int().optional(),
});
export type AsyncQueryRecord = z.infer<typeof AsyncQueryRecord>;

/** Metadata of one result page object. */
export const AsyncPageMetadata = z.object({
  /** Rows in the page. */
  rowsCount: z.coerce.number().int().nonnegative(),
  /** Zero-based index of the page's first row in the whole result. */
  rowsStart: z.coerce.number().int().nonnegative(),
});
export type AsyncPageMetadata = z.infer<typeof AsyncPageMetadata>;

/** Object name of a result page (pages are numbered from 1). */
export function asyncPageName(queryId: string, page: number): string {
  return `${Guid.parse(queryId)}/${page}`;
}

/** HTTP headers of a result page. */
export const AsyncPageHeaders = {
  rowsCount: 'Rows-Count',
  rowsRangeStart: 'Rows-Range-Start',
  rowsRangeEnd: 'Rows-Range-End',
  /** Bytes of the page's JSON rows (before base64). */
  size: 'Size',
} as const;
