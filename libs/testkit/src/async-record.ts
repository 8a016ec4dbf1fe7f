import { randomUUID } from 'node:crypto';
import type { AsyncQueryRecord } from '@halo/contracts';

/** A queued async query record with fresh ids, for tests of the records bucket and the worker. */
export function queuedAsyncRecord(overrides: Partial<AsyncQueryRecord> = {}): AsyncQueryRecord {
  const now = Date.now();
  return {
    id: randomUUID(),
    integratorId: 'test',
    siteId: randomUUID(),
    linkGuid: randomUUID(),
    executionMode: 'reader',
    state: 'queued',
    statusTiming: { initialising: new Date(now).toISOString(), queued: new Date(now).toISOString() },
    createdAt: now,
    queueDeadline: now + 60_000,
    attempts: 0,
    ...overrides,
  };
}
