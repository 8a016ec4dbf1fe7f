import type { KV } from '@nats-io/kv';
import { AppError, AsyncQueryRecord, isTerminalAsyncState } from '@halo/contracts';

/** A record and the KV revision it was read at. */
export interface StoredRecord {
  record: AsyncQueryRecord;
  revision: number;
}

const MAX_CAS_ATTEMPTS = 20;

/**
 * The worker's view of KV `async_queries`. Every change is a compare-and-set on the revision it read, so a
 * cancel written by a facade is never overwritten by a worker finishing at the same moment, nor the reverse.
 */
export class RecordStore {
  readonly #kv: KV;

  constructor(kv: KV) {
    this.#kv = kv;
  }

  async get(queryId: string): Promise<StoredRecord | null> {
    const entry = await this.#kv.get(queryId);
    if (!entry || entry.operation !== 'PUT') return null;
    const parsed = AsyncQueryRecord.safeParse(entry.json());
    if (!parsed.success) throw new AppError('internal', 'corrupt async query record', { cause: parsed.error });
    return { record: parsed.data, revision: entry.revision };
  }

  /**
   * Applies `change` to the current record and writes it, re-reading and retrying on a concurrent write.
   * Returns null (writing nothing) when the record is gone or already terminal, or when `change` returns null.
   */
  async transition(queryId: string, change: (record: AsyncQueryRecord) => AsyncQueryRecord | null): Promise<AsyncQueryRecord | null> {
    for (let attempt = 0; attempt < MAX_CAS_ATTEMPTS; attempt++) {
      const current = await this.get(queryId);
      if (!current || isTerminalAsyncState(current.record.state)) return null;
      const next = change(structuredClone(current.record));
      if (!next) return null;
      try {
        await this.#kv.update(queryId, JSON.stringify(AsyncQueryRecord.parse(next)), current.revision);
        return next;
      } catch (err) {
        // A wrong-revision error means someone wrote in between: read again. Anything else is an outage.
        if (!isRevisionConflict(err)) throw err;
      }
    }
    throw new AppError('internal', 'async query record kept changing under the worker');
  }
}

function isRevisionConflict(err: unknown): boolean {
  return err instanceof Error && /wrong last sequence/i.test(err.message);
}

/** The record moved to `state`, with the time it got there. */
export function withState(record: AsyncQueryRecord, state: AsyncQueryRecord['state'], at = Date.now()): AsyncQueryRecord {
  return { ...record, state, statusTiming: { ...record.statusTiming, [state]: new Date(at).toISOString() } };
}
