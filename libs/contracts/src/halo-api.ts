import { z } from 'zod';
import { Availability, Catalogue, SiteStatus } from './registry.ts';
import { ColumnInfo, ResultParameter } from './query.ts';

/**
 * The integrator API's request and response shapes as Halo Connect publishes them (integrator OpenAPI 26.619),
 * so an integrator moves by changing the base URL. Our extensions (`?format=records`, NDJSON, DELETE) are
 * opt-ins described beside the shapes they extend.
 */


/** Reader (and scalar) result: `data` is base64 of the UTF-8 JSON array of row objects. */
export const ReaderResult = z.object({
  rows: z.number().int(),
  size: z.number().int(),
  data: z.string().describe('base64 of the UTF-8 JSON array of row objects, e.g. [{"id":1,"name":"Ann"}]'),
  parameters: z.array(ResultParameter).optional(),
});
export type ReaderResult = z.infer<typeof ReaderResult>;

export const NonQueryResult = z.object({ rowsAffected: z.number().int(), size: z.number().int(), parameters: z.array(ResultParameter).optional() });
export type NonQueryResult = z.infer<typeof NonQueryResult>;

/** Our opt-in `?format=records`: the rows as objects next to their column names and types. */
export const RecordsResult = z.object({
  rows: z.number().int(),
  size: z.number().int(),
  columns: z.array(ColumnInfo),
  records: z.array(z.record(z.string(), z.unknown())),
  parameters: z.array(ResultParameter).optional(),
});
export type RecordsResult = z.infer<typeof RecordsResult>;

/** When a query entered (and left) a state, ISO 8601 UTC. */
export const StateTime = z.object({ startTime: z.string(), endTime: z.string().optional() });
export type StateTime = z.infer<typeof StateTime>;

export const ImmediateStatusTiming = z.object({
  initialising: StateTime,
  executing: StateTime,
  downloading: StateTime.optional(),
  uploading: StateTime.optional(),
});
export type ImmediateStatusTiming = z.infer<typeof ImmediateStatusTiming>;

export const AsyncStatusTimingHalo = z.object({
  initialising: StateTime,
  queued: StateTime.optional(),
  executing: StateTime.optional(),
  uploading: StateTime.optional(),
});
export type AsyncStatusTimingHalo = z.infer<typeof AsyncStatusTimingHalo>;

export const QueryMetrics = z.object({ sqlExecutionDuration: z.number().int() });
export type QueryMetrics = z.infer<typeof QueryMetrics>;

/** Halo's `errorDetails`: `mssql` with SQL Server's error number as `errorCode` when SQL Server refused the statement, else `haloLink`. */
export const ErrorDetails = z.object({
  errorType: z.enum(['http', 'mssql', 'fbsql', 'haloLink']),
  errorCode: z.number().int().optional(),
  errorMessage: z.string(),
});
export type ErrorDetails = z.infer<typeof ErrorDetails>;

/** Every error body: Halo's `{error:{status, statusText, message}}` plus our stable `code`. */
export const HttpError = z.object({
  error: z.object({ status: z.number().int(), statusText: z.string(), code: z.string(), message: z.string() }),
});
export type HttpError = z.infer<typeof HttpError>;

/** Fields every query object carries (Halo's ImmediateQuery / AsyncQuery). */
const QueryBase = z.object({
  id: z.string(),
  integratorId: z.string(),
  siteId: z.string(),
  /** Milliseconds. */
  maxTimeInQueue: z.number().int(),
  /** Bytes of the command's JSON. */
  commandSize: z.number().int(),
  /** Bytes of the request body. */
  requestSize: z.number().int(),
  createdAt: z.string(),
  updatedAt: z.string(),
});

/** 200 of `POST .../queries/immediate`. */
export const ImmediateQuerySuccessful = QueryBase.extend({
  mode: z.literal('immediate'),
  status: z.literal('successful'),
  statusTiming: ImmediateStatusTiming,
  metrics: QueryMetrics,
  result: z.union([ReaderResult, NonQueryResult, RecordsResult]),
  resultSize: z.number().int(),
  completedAt: z.string(),
});
export type ImmediateQuerySuccessful = z.infer<typeof ImmediateQuerySuccessful>;

/** 400/500 of `POST .../queries/immediate` when the database refused the statement; `error` as every error body. */
export const ImmediateQueryFailed = QueryBase.extend({
  mode: z.literal('immediate'),
  status: z.literal('executionFailed'),
  statusTiming: ImmediateStatusTiming.partial({ executing: true }),
  errorDetails: ErrorDetails,
  completedAt: z.string(),
  error: HttpError.shape.error,
});
export type ImmediateQueryFailed = z.infer<typeof ImmediateQueryFailed>;

/** Halo's async states, plus `cancelled` (only after our DELETE). */
export const HALO_ASYNC_STATES = [
  'initialising', 'initialisationFailedCacheError', 'initialisationFailedSiteOffline', 'initialisationFailedSiteUnreachable',
  'queued', 'expiredInQueue', 'executing', 'executionFailed', 'uploading', 'uploadFailed', 'successful', 'cancelled',
] as const;
export const HaloAsyncState = z.enum(HALO_ASYNC_STATES);
export type HaloAsyncState = z.infer<typeof HaloAsyncState>;

/** One result page as the status lists it; `rows.rangeStart`/`rangeEnd` are zero-based and inclusive. */
export const ResultPage = z.object({
  pageNumber: z.number().int(),
  status: z.enum(['queued', 'uploading', 'cached']),
  size: z.number().int(),
  rows: z.object({ count: z.number().int(), rangeStart: z.number().int(), rangeEnd: z.number().int() }),
});
export type ResultPage = z.infer<typeof ResultPage>;

export const AsyncReaderResult = z.object({ rows: z.number().int(), size: z.number().int(), pages: z.array(ResultPage), parameters: z.array(ResultParameter).optional() });
export const AsyncNonQueryResult = z.object({ rowsAffected: z.number().int(), size: z.number().int(), pages: z.array(ResultPage), parameters: z.array(ResultParameter).optional() });

/** An async query (Halo's AsyncQuery): 201 of the create, and the answer of `GET .../queries/{id}`. */
export const AsyncQuery = QueryBase.extend({
  mode: z.literal('async'),
  status: HaloAsyncState,
  statusTiming: AsyncStatusTimingHalo,
  metrics: QueryMetrics.optional(),
  result: z.union([AsyncReaderResult, AsyncNonQueryResult]).optional(),
  resultSize: z.number().int().optional(),
  completedAt: z.string().optional(),
  errorDetails: ErrorDetails.optional(),
  /** Ours: the stable code of a failure, as in error bodies. */
  error: z.object({ code: z.string(), message: z.string() }).optional(),
  /** Ours: runs that lost their agent (`agent_lost`), oldest first: a read is run again, a write never. */
  failedAttempts: z.array(z.object({ attempt: z.number().int(), code: z.string(), at: z.string() })).optional(),
  /** Ours: ISO time after which status and results answer 410. */
  expiresAt: z.string().optional(),
});
export type AsyncQuery = z.infer<typeof AsyncQuery>;

/** `GET .../queries/{id}`: an async query, or an immediate one (its answer without rows, kept for the result TTL). */
export const QueryStatus = z.union([AsyncQuery, ImmediateQuerySuccessful.omit({ result: true }), ImmediateQueryFailed]);
export type QueryStatus = z.infer<typeof QueryStatus>;

/** Body of `POST .../queries/status`. */
export const QueryStatusBatchBody = z.object({ queryIds: z.array(z.string().max(64)).min(1).max(100) }).strict();
export type QueryStatusBatchBody = z.infer<typeof QueryStatusBatchBody>;

export const QueryStatusBatchResult = z.object({ queryId: z.string(), status: z.enum(['found', 'notFound']), query: QueryStatus.optional() });
export type QueryStatusBatchResult = z.infer<typeof QueryStatusBatchResult>;
export const QueryStatusBatchResponse = z.object({ results: z.array(QueryStatusBatchResult) });
export type QueryStatusBatchResponse = z.infer<typeof QueryStatusBatchResponse>;

/** Body of a result page: the page's rows as base64 of their UTF-8 JSON array. */
export const ResultPageBody = z.object({ data: z.string(), parameters: z.array(ResultParameter).optional() });
export type ResultPageBody = z.infer<typeof ResultPageBody>;

/** A site as integrators see it: every field of Halo's SiteForIntegrator (the deprecated top-level ones too). */
export const SiteForIntegrator = z.object({
  id: z.string(),
  pmsType: z.string(),
  availability: Availability,
  status: SiteStatus,
  haloLinkVersion: z.string(),
  enrichedAt: z.string(),
  catalogue: z.array(Catalogue),
  practiceMetadata: z.object({
    pmsType: z.string(),
    practiceName: z.string(),
    practiceManagementSiteId: z.string(),
    practiceManagementVersion: z.string().optional(),
  }),
  name: z.string().describe('deprecated: practiceMetadata.practiceName'),
  practiceManagementSiteId: z.string().describe('deprecated: practiceMetadata.practiceManagementSiteId'),
  practiceManagementName: z.string().describe('deprecated'),
  practiceManagementVersion: z.string().optional().describe('deprecated: practiceMetadata.practiceManagementVersion'),
  createdAt: z.string().describe('deprecated'),
  authoritative: z.boolean().describe('deprecated'),
  clientTimestampUTC: z.string().optional().describe('deprecated: when the site last heard from its Halo Link'),
  heartbeatTimestampUTC: z.string().optional().describe('deprecated: when the site last heard from its Halo Link'),
});
export type SiteForIntegrator = z.infer<typeof SiteForIntegrator>;

export const SitesResponse = z.object({ sites: z.array(SiteForIntegrator) });
export type SitesResponse = z.infer<typeof SitesResponse>;

/** Query string of `POST /integrator/pair-site` (and the deprecated `/integrator/pairSite`); no body. */
export const PairSiteQuery = z.object({
  practiceManagementSiteId: z.string().min(1).max(128),
  practiceManagementName: z.string().min(1).max(64),
  pairingCode: z.string().min(4).max(64).optional(),
}).strict();
export type PairSiteQuery = z.infer<typeof PairSiteQuery>;
