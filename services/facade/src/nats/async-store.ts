import { JetStreamApiError, JetStreamError, type JetStreamClient } from '@nats-io/jetstream';
import type { ObjectStore } from '@nats-io/obj';
import { errors } from '@nats-io/transport-node';
import { AsyncRecords, openAsyncResources, withState } from '@halo/async-queries';
import {
  ASYNC_LIMITS, ASYNC_NAMES, AppError, AsyncPageMetadata, asyncPageName, isAppError, isTerminalAsyncState, subjects,
  type AsyncJob, type AsyncQueryRecord,
} from '@halo/contracts';
import { encodeJson, type NatsConnection } from '@halo/messaging';
import type { AsyncPage, AsyncQueryStore } from '../async-deps.ts';
import { connectionState, type ConnectionState } from './connection-state.ts';

export interface NatsAsyncQueryStoreOptions {
  nc: NatsConnection;
  /** Replicas of the stream and buckets when the facade creates them: 1 (dev), 3 (production). Default 1. */
  replicas?: number;
  /** Result lifetime; must match the workers'. Default 24 h. */
  resultTtlMs?: number;
  /** The connection's tracked state, shared with its owner (default: tracked here, for the connection's life). */
  connection?: ConnectionState;
  /** How long one JetStream call retries through a leader election; default the async-queries lib's. */
  retryBudgetMs?: number;
}

const HUB_FAILURES = [
  errors.TimeoutError, errors.RequestError, errors.NoRespondersError, errors.ConnectionError, errors.ClosedConnectionError,
  errors.DrainingConnectionError, JetStreamError, JetStreamApiError,
];

/** A failure of the hub (connection, timeout, JetStream refusing), as opposed to a bug: 503, not 500. */
export function isHubFailure(err: unknown): boolean {
  return !isAppError(err) && HUB_FAILURES.some((type) => err instanceof type);
}

/** Runs one store operation: 503 at once while the hub is unreachable, and 503 when the hub fails it. */
async function guarded<T>(connection: ConnectionState, operation: () => Promise<T>): Promise<T> {
  connection.assertConnected('async queries are');
  try {
    return await operation();
  } catch (err) {
    if (isHubFailure(err)) throw new AppError('service_unavailable', 'async queries are unavailable: the hub did not answer; retry shortly', { cause: err });
    throw err;
  }
}

/**
 * AsyncQueryStore over JetStream: KV `async_queries`, the `ASYNC_WORK` work-queue stream and the object store
 * `async_results`, created here if missing with the same settings the worker uses (whichever starts first wins).
 */
export class NatsAsyncQueryStore implements AsyncQueryStore {
  readonly #nc: NatsConnection;
  readonly #js: JetStreamClient;
  readonly #records: AsyncRecords;
  readonly #results: ObjectStore;
  readonly #resultTtlMs: number;
  readonly #connection: ConnectionState;

  private constructor(nc: NatsConnection, js: JetStreamClient, records: AsyncRecords, results: ObjectStore, resultTtlMs: number, connection: ConnectionState) {
    this.#nc = nc;
    this.#js = js;
    this.#records = records;
    this.#results = results;
    this.#resultTtlMs = resultTtlMs;
    this.#connection = connection;
  }

  static async open(options: NatsAsyncQueryStoreOptions): Promise<NatsAsyncQueryStore> {
    const { nc } = options;
    const replicas = options.replicas ?? 1;
    const resultTtlMs = options.resultTtlMs ?? ASYNC_LIMITS.defaultResultTtlMs;
    const { js, records, results } = await openAsyncResources(nc, { replicas, resultTtlMs, ...(options.retryBudgetMs !== undefined ? { retryBudgetMs: options.retryBudgetMs } : {}) });
    return new NatsAsyncQueryStore(nc, js, new AsyncRecords(records, options.retryBudgetMs !== undefined ? { retryBudgetMs: options.retryBudgetMs } : {}), results, resultTtlMs, options.connection ?? connectionState(nc));
  }

  submit(record: AsyncQueryRecord, job: AsyncJob): Promise<AsyncQueryRecord> {
    return guarded(this.#connection, () => this.#submit(record, job));
  }

  get(queryId: string): Promise<AsyncQueryRecord | null> {
    return guarded(this.#connection, async () => (await this.#records.get(queryId))?.record ?? null);
  }

  /**
   * Nobody waits for an immediate query's status: it goes as a plain publish onto the bucket's subject, with no
   * acknowledgement awaited (a JetStream round trip per query otherwise). A hub in trouble may drop it; that loses
   * only `GET .../queries/{id}` of that query, never its answer.
   */
  remember(record: AsyncQueryRecord): Promise<void> {
    return guarded(this.#connection, async () => {
      this.#nc.publish(`$KV.${ASYNC_NAMES.queries}.${record.id}`, JSON.stringify({ ...record, expiresAt: Date.now() + this.#resultTtlMs }));
    });
  }

  cancel(queryId: string): Promise<AsyncQueryRecord | null> {
    return guarded(this.#connection, () => this.#cancel(queryId));
  }

  page(queryId: string, page: number): Promise<AsyncPage | null> {
    return guarded(this.#connection, () => this.#page(queryId, page));
  }

  async #submit(record: AsyncQueryRecord, job: AsyncJob): Promise<AsyncQueryRecord> {
    await this.#records.create(record);
    try {
      // msgID = query id: a retried publish is dropped by the stream's duplicate window.
      await this.#js.publish(subjects.asyncWork(job.haloGuid), encodeJson(job), { msgID: job.queryId });
    } catch (cause) {
      const at = Date.now();
      await this.#records.update(record.id, (r) => ({
        ...withState(r, 'initialisationFailed', at),
        error: { code: 'internal', message: 'the query could not be queued' },
        expiresAt: at + this.#resultTtlMs,
      })).catch(() => null);
      throw new AppError(isHubFailure(cause) ? 'service_unavailable' : 'internal', 'the query could not be queued', { cause });
    }
    // A fast worker may already have moved it on; then its state stands.
    const queued = await this.#records.update(record.id, (r) => (r.state === 'initialising' ? withState(r, 'queued') : null));
    return queued ?? (await this.#records.get(record.id))?.record ?? record;
  }

  async #cancel(queryId: string): Promise<AsyncQueryRecord | null> {
    const at = Date.now();
    let finished = false;
    const cancelled = await this.#records.update(queryId, (r) => {
      if (isTerminalAsyncState(r.state)) {
        finished = true;
        return null;
      }
      return { ...withState(r, 'cancelled', at), expiresAt: at + this.#resultTtlMs };
    });
    if (finished) throw new AppError('query_finished', 'the query has already finished');
    if (!cancelled) return null;
    // Every worker hears it; the one running the query cancels its stream, which stops the statement at the agent.
    this.#nc.publish(subjects.cancel(queryId), new Uint8Array());
    return cancelled;
  }

  async #page(queryId: string, page: number): Promise<AsyncPage | null> {
    const result = await this.#results.get(asyncPageName(queryId, page));
    if (!result || result.info.deleted) return null;
    const metadata = AsyncPageMetadata.safeParse(result.info.metadata ?? {});
    if (!metadata.success) {
      await result.data.cancel().catch(() => undefined);
      throw new AppError('internal', 'corrupt result page metadata', { cause: metadata.error });
    }
    return { metadata: metadata.data, size: result.info.size, data: result.data, error: result.error };
  }
}
