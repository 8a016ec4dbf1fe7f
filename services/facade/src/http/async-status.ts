import { toErrorDetails, toImmediateStatus } from './query-response.ts';
import { AppError, isTerminalAsyncState, type AsyncQuery, type QueryStatus, type AsyncQueryRecord, type AsyncQueryState, type ErrorCode, type HaloAsyncState, type ResultPage, type ResultParameter, type StateTime } from '@halo/contracts';

const iso = (ms: number): string => new Date(ms).toISOString();

/**
 * Halo's name of a record's state: `initialisationFailed` splits by its cause (the site closed its session;
 * the site is not reachable: unknown, not authoritative, or no registry answer; else the work queue failed).
 */
export function haloState(record: Pick<AsyncQueryRecord, 'state' | 'error'>): HaloAsyncState {
  if (record.state !== 'initialisationFailed') return record.state;
  const code: ErrorCode | undefined = record.error?.code;
  if (code === 'site_offline' || code === 'agent_busy') return 'initialisationFailedSiteOffline';
  if (code === 'site_not_found' || code === 'site_not_authoritative' || code === 'registry_unavailable') return 'initialisationFailedSiteUnreachable';
  return 'initialisationFailedCacheError';
}

const TIMED_STATES = ['initialising', 'queued', 'executing', 'uploading'] as const;

/** Halo's statusTiming: each state's start, and its end where the query went on (the next state reached). */
function statusTiming(record: AsyncQueryRecord): AsyncQuery['statusTiming'] {
  const reached = Object.entries(record.statusTiming)
    .filter((entry): entry is [AsyncQueryState, string] => entry[1] !== undefined)
    .sort((a, b) => Date.parse(a[1]) - Date.parse(b[1]));
  const out: Partial<Record<(typeof TIMED_STATES)[number], StateTime>> = {};
  reached.forEach(([state, startTime], i) => {
    if (!(TIMED_STATES as readonly string[]).includes(state)) return;
    const next = reached[i + 1]?.[1];
    out[state as (typeof TIMED_STATES)[number]] = { startTime, ...(next !== undefined ? { endTime: next } : {}) };
  });
  return { ...out, initialising: out.initialising ?? { startTime: iso(record.createdAt) } };
}

/** The result pages of a successful query, from the record (older records only know their page count). */
function pages(record: AsyncQueryRecord): ResultPage[] {
  if (record.pages) {
    let start = 0;
    return record.pages.map((page, i) => {
      const listed: ResultPage = { pageNumber: i + 1, status: 'cached', size: page.bytes, rows: { count: page.rowsCount, rangeStart: start, rangeEnd: start + page.rowsCount - 1 } };
      start += page.rowsCount;
      return listed;
    });
  }
  return Array.from({ length: record.pageCount ?? 0 }, (_, i) => ({ pageNumber: i + 1, status: 'cached', size: 0, rows: { count: 0, rangeStart: 0, rangeEnd: -1 } }));
}

/** The record of an async query as integrators see it: Halo's AsyncQuery, plus our `error` code, attempts and expiry. */
export function toAsyncStatus(record: AsyncQueryRecord): AsyncQuery {
  const timing = statusTiming(record);
  const times = Object.values(record.statusTiming).filter((t): t is string => t !== undefined).sort();
  const completed = isTerminalAsyncState(record.state);
  // Bytes of the rows as the pages hold them (JSON row objects), as `size` is for an immediate result.
  const size = record.pages ? record.pages.reduce((sum, page) => sum + page.bytes, 0) : (record.size ?? 0);
  return {
    id: record.id,
    integratorId: record.integratorId,
    siteId: record.siteId,
    mode: 'async',
    status: haloState(record),
    maxTimeInQueue: record.queueDeadline - record.createdAt,
    commandSize: record.commandSize ?? 0,
    requestSize: record.requestSize ?? 0,
    createdAt: iso(record.createdAt),
    updatedAt: times.at(-1) ?? iso(record.createdAt),
    statusTiming: timing,
    ...(record.metrics ? { metrics: { sqlExecutionDuration: Math.round(record.metrics.sqlExecutionDuration) } } : {}),
    ...(record.state === 'successful'
      ? {
          result: record.executionMode === 'nonQuery'
            ? { rowsAffected: record.affected ?? record.rowCount ?? 0, size, pages: pages(record), ...outputs(record) }
            : { rows: record.rowCount ?? 0, size, pages: pages(record), ...outputs(record) },
          resultSize: size,
        }
      : {}),
    ...(completed && times.length > 0 ? { completedAt: times.at(-1) } : {}),
    ...(record.error ? { errorDetails: toErrorDetails(record.error), error: { code: record.error.code, message: record.error.message } } : {}),
    ...(record.failedAttempts?.length ? { failedAttempts: record.failedAttempts } : {}),
    ...(record.expiresAt !== undefined ? { expiresAt: iso(record.expiresAt) } : {}),
  };
}

/** Any kept query as integrators see it: an async one, or an immediate one with the answer it had (without rows). */
export function toQueryStatus(record: AsyncQueryRecord): QueryStatus {
  return record.mode === 'immediate' ? toImmediateStatus(record) : toAsyncStatus(record);
}

/** True once a query's status and results are gone (410). */
export function isExpired(record: AsyncQueryRecord, now = Date.now()): boolean {
  return record.expiresAt !== undefined && now >= record.expiresAt;
}

/**
 * The record if the caller may see it: another integrator's query, or one of another site, is "not found" —
 * never "forbidden", which would confirm that the id exists.
 */
export function visibleRecord(record: AsyncQueryRecord | null, integratorId: string, siteId: string): AsyncQueryRecord {
  if (!record || record.integratorId !== integratorId || record.siteId !== siteId) throw new AppError('not_found', 'query not found');
  return record;
}

/** Like visibleRecord, and 410 once expired. */
export function liveRecord(record: AsyncQueryRecord | null, integratorId: string, siteId: string, now = Date.now()): AsyncQueryRecord {
  const visible = visibleRecord(record, integratorId, siteId);
  if (isExpired(visible, now)) throw new AppError('gone', 'the query and its results have expired');
  return visible;
}

function outputs(record: AsyncQueryRecord): { parameters?: ResultParameter[] } {
  return record.parameters?.length ? { parameters: record.parameters } : {};
}
