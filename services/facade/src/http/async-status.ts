import { AppError, type AsyncQueryRecord, type AsyncQueryStatus } from '@halo/contracts';

/** The record of an async query as integrators see it (the immediate response's shape where it fits). */
export function toAsyncStatus(record: AsyncQueryRecord): AsyncQueryStatus {
  return {
    id: record.id,
    siteId: record.siteId,
    mode: 'async',
    executionMode: record.executionMode,
    status: record.state,
    statusTiming: record.statusTiming,
    ...(record.metrics ? { metrics: record.metrics } : {}),
    ...(record.state === 'successful'
      ? {
          result: {
            rowCount: record.rowCount ?? 0,
            size: record.size ?? 0,
            columns: record.columns ?? [],
            pageCount: record.pageCount ?? 0,
            ...(record.executionMode === 'scalar' ? { scalar: record.scalar ?? null } : {}),
            ...(record.affected !== undefined ? { affected: record.affected } : {}),
          },
        }
      : {}),
    ...(record.error ? { error: record.error } : {}),
    ...(record.failedAttempts?.length ? { failedAttempts: record.failedAttempts } : {}),
    ...(record.expiresAt !== undefined ? { expiresAt: new Date(record.expiresAt).toISOString() } : {}),
  };
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
