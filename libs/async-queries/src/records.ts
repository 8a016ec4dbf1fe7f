import { JetStreamApiCodes, JetStreamApiError } from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';
import { AppError, AsyncQueryRecord, isTerminalAsyncState, type AsyncQueryState } from '@halo/contracts';
import { isLeaderElectionError, retryJetStream } from '@halo/messaging';
import { setTimeout as sleep } from 'node:timers/promises';

/** How long a record write retries through a leader election by default (ASYNC_RETRY_BUDGET_MS of resources.ts). */
const RECORD_RETRY_BUDGET_MS = 15_000;

/** A record and the KV revision it was read at. */
export interface StoredRecord {
  record: AsyncQueryRecord;
  revision: number;
}

const MAX_CAS_ATTEMPTS = 20;

/**
 * KV `async_queries` as facades and workers both change it: every write is a compare-and-set on the revision it
 * read, so a cancel written by a facade is never overwritten by a worker finishing at the same moment, nor the
 * reverse.
 */
export class AsyncRecords {
  readonly #kv: KV;
  readonly #retryBudgetMs: number;

  constructor(kv: KV, options: { retryBudgetMs?: number } = {}) {
    this.#kv = kv;
    this.#retryBudgetMs = options.retryBudgetMs ?? RECORD_RETRY_BUDGET_MS;
  }

  /**
   * Writes a new record; fails if one with its id exists. A create that timed out (a leader election) is sent
   * again: finding then its own first attempt stored is success.
   */
  async create(record: AsyncQueryRecord): Promise<void> {
    const body = JSON.stringify(AsyncQueryRecord.parse(record));
    let attempts = 0;
    await retryJetStream(async () => {
      attempts++;
      try {
        await this.#kv.create(record.id, body);
      } catch (err) {
        if (attempts > 1 && isRevisionConflict(err) && (await this.#kv.get(record.id))?.string() === body) return;
        throw err;
      }
    }, { deadline: Date.now() + this.#retryBudgetMs, timeouts: true });
  }

  async get(queryId: string): Promise<StoredRecord | null> {
    const entry = await this.#kv.get(queryId);
    if (!entry || entry.operation !== 'PUT') return null;
    const parsed = AsyncQueryRecord.safeParse(entry.json());
    if (!parsed.success) throw new AppError('internal', 'corrupt async query record', { cause: parsed.error });
    return { record: parsed.data, revision: entry.revision };
  }

  /**
   * Applies `change` to the current record and writes it, re-reading and retrying on a concurrent write. Returns
   * what was written, or null (writing nothing) when the record is gone or `change` returns null.
   */
  async update(queryId: string, change: (record: AsyncQueryRecord) => AsyncQueryRecord | null): Promise<AsyncQueryRecord | null> {
    const deadline = Date.now() + this.#retryBudgetMs;
    /** What the last write sent, when it timed out: it may have been applied. */
    let unsure: { body: string; record: AsyncQueryRecord; revision: number } | null = null;
    for (let attempt = 0; attempt < MAX_CAS_ATTEMPTS; attempt++) {
      const current = await this.get(queryId);
      // Our timed-out write is stored: it was applied after all.
      if (unsure && current && current.revision > unsure.revision && JSON.stringify(current.record) === unsure.body) return unsure.record;
      if (!current) return null;
      const next = change(structuredClone(current.record));
      if (!next) return null;
      const body = JSON.stringify(AsyncQueryRecord.parse(next));
      try {
        await this.#kv.update(queryId, body, current.revision);
        return next;
      } catch (err) {
        // Someone wrote in between: read again. A timeout during a leader election: read again too (it may
        // have applied) while the budget lasts. Anything else is an outage, the caller's to handle.
        if (isRevisionConflict(err)) continue;
        if (!isLeaderElectionError(err, { timeouts: true }) || Date.now() >= deadline) throw err;
        unsure = { body, record: next, revision: current.revision };
        attempt--;
        await sleep(Math.random() * 500);
      }
    }
    throw new AppError('internal', 'async query record kept changing');
  }

  /** update(), but a record that already finished is left alone (null): nothing moves a query out of a terminal state. */
  transition(queryId: string, change: (record: AsyncQueryRecord) => AsyncQueryRecord | null): Promise<AsyncQueryRecord | null> {
    return this.update(queryId, (record) => (isTerminalAsyncState(record.state) ? null : change(record)));
  }
}

/**
 * A compare-and-set lost to a concurrent write: JetStream's "wrong last sequence" (10071, or 10164 from a
 * clustered stream), told by its code, not its message text (which the clustered one does not carry).
 */
export function isRevisionConflict(err: unknown): boolean {
  return err instanceof JetStreamApiError
    && (err.code === JetStreamApiCodes.StreamWrongLastSequence || err.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown);
}

/** The record moved to `state`, with the time it got there. */
export function withState(record: AsyncQueryRecord, state: AsyncQueryState, at = Date.now()): AsyncQueryRecord {
  return { ...record, state, statusTiming: { ...record.statusTiming, [state]: new Date(at).toISOString() } };
}
