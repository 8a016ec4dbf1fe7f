import {
  DiscardPolicy, JetStreamApiCodes, JetStreamApiError, JetStreamError, RetentionPolicy, StorageType,
  jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager,
} from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import { Objm, type ObjectStore } from '@nats-io/obj';
import { errors, nanos } from '@nats-io/transport-node';
import {
  ASYNC_LIMITS, ASYNC_NAMES, ASYNC_WORK_MAX_AGE_MS, AppError, AsyncPageMetadata, AsyncQueryRecord,
  asyncPageName, asyncRecordTtlMs, isAppError, isTerminalAsyncState, subjects,
  type AsyncJob,
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
}

const MAX_CAS_ATTEMPTS = 20;

const HUB_FAILURES = [
  errors.TimeoutError, errors.RequestError, errors.NoRespondersError, errors.ConnectionError, errors.ClosedConnectionError,
  errors.DrainingConnectionError, JetStreamError, JetStreamApiError,
];

/** A failure of the hub (connection, timeout, JetStream refusing), as opposed to a bug: 503, not 500. */
function isHubFailure(err: unknown): boolean {
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
  readonly #kv: KV;
  readonly #results: ObjectStore;
  readonly #resultTtlMs: number;
  readonly #connection: ConnectionState;

  private constructor(nc: NatsConnection, js: JetStreamClient, kv: KV, results: ObjectStore, resultTtlMs: number) {
    this.#nc = nc;
    this.#js = js;
    this.#kv = kv;
    this.#results = results;
    this.#resultTtlMs = resultTtlMs;
    this.#connection = connectionState(nc);
  }

  static async open(options: NatsAsyncQueryStoreOptions): Promise<NatsAsyncQueryStore> {
    const { nc } = options;
    const replicas = options.replicas ?? 1;
    const resultTtlMs = options.resultTtlMs ?? ASYNC_LIMITS.defaultResultTtlMs;
    await ensureWorkStream(await jetstreamManager(nc), replicas);
    const kv = await new Kvm(nc).create(ASYNC_NAMES.queries, { replicas, history: 1, ttl: asyncRecordTtlMs(resultTtlMs) });
    const results = await new Objm(nc).create(ASYNC_NAMES.results, { replicas, ttl: nanos(resultTtlMs), storage: StorageType.File });
    return new NatsAsyncQueryStore(nc, jetstream(nc), kv, results, resultTtlMs);
  }

  submit(record: AsyncQueryRecord, job: AsyncJob): Promise<AsyncQueryRecord> {
    return guarded(this.#connection, () => this.#submit(record, job));
  }

  get(queryId: string): Promise<AsyncQueryRecord | null> {
    return guarded(this.#connection, async () => (await this.#read(queryId))?.record ?? null);
  }

  cancel(queryId: string): Promise<AsyncQueryRecord | null> {
    return guarded(this.#connection, () => this.#cancel(queryId));
  }

  page(queryId: string, page: number): Promise<AsyncPage | null> {
    return guarded(this.#connection, () => this.#page(queryId, page));
  }

  async #submit(record: AsyncQueryRecord, job: AsyncJob): Promise<AsyncQueryRecord> {
    await this.#kv.create(record.id, JSON.stringify(AsyncQueryRecord.parse(record)));
    try {
      // msgID = query id: a retried publish is dropped by the stream's duplicate window.
      await this.#js.publish(subjects.asyncWork(job.haloGuid), encodeJson(job), { msgID: job.queryId });
    } catch (cause) {
      const at = Date.now();
      await this.#change(record.id, (r) => ({
        ...r,
        state: 'initialisationFailed',
        statusTiming: { ...r.statusTiming, initialisationFailed: new Date(at).toISOString() },
        error: { code: 'internal', message: 'the query could not be queued' },
        expiresAt: at + this.#resultTtlMs,
      })).catch(() => null);
      throw new AppError(isHubFailure(cause) ? 'service_unavailable' : 'internal', 'the query could not be queued', { cause });
    }
    // A fast worker may already have moved it on; then its state stands.
    const queued = await this.#change(record.id, (r) => (r.state === 'initialising'
      ? { ...r, state: 'queued', statusTiming: { ...r.statusTiming, queued: new Date().toISOString() } }
      : null));
    return queued ?? (await this.#read(record.id))?.record ?? record;
  }

  async #cancel(queryId: string): Promise<AsyncQueryRecord | null> {
    const at = Date.now();
    let finished = false;
    const cancelled = await this.#change(queryId, (r) => {
      if (isTerminalAsyncState(r.state)) {
        finished = true;
        return null;
      }
      return { ...r, state: 'cancelled', statusTiming: { ...r.statusTiming, cancelled: new Date(at).toISOString() }, expiresAt: at + this.#resultTtlMs };
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

  async #read(queryId: string): Promise<{ record: AsyncQueryRecord; revision: number } | null> {
    const entry = await this.#kv.get(queryId);
    if (!entry || entry.operation !== 'PUT') return null;
    const parsed = AsyncQueryRecord.safeParse(entry.json());
    if (!parsed.success) throw new AppError('internal', 'corrupt async query record', { cause: parsed.error });
    return { record: parsed.data, revision: entry.revision };
  }

  /** Compare-and-set on the record's revision, re-reading on a concurrent write; null when missing or `change` declines. */
  async #change(queryId: string, change: (record: AsyncQueryRecord) => AsyncQueryRecord | null): Promise<AsyncQueryRecord | null> {
    for (let attempt = 0; attempt < MAX_CAS_ATTEMPTS; attempt++) {
      const current = await this.#read(queryId);
      if (!current) return null;
      const next = change(current.record);
      if (!next) return null;
      try {
        await this.#kv.update(queryId, JSON.stringify(AsyncQueryRecord.parse(next)), current.revision);
        return next;
      } catch (err) {
        if (!(err instanceof Error && /wrong last sequence/i.test(err.message))) throw err;
      }
    }
    throw new AppError('internal', 'async query record kept changing');
  }
}

/** The work-queue stream, created if missing (the worker creates the same stream and its consumer). */
async function ensureWorkStream(jsm: JetStreamManager, replicas: number): Promise<void> {
  if (await streamExists(jsm)) return;
  try {
    await jsm.streams.add({
      name: ASYNC_NAMES.workStream,
      subjects: [subjects.asyncWorkAll()],
      retention: RetentionPolicy.Workqueue,
      storage: StorageType.File,
      discard: DiscardPolicy.Old,
      num_replicas: replicas,
      max_age: nanos(ASYNC_WORK_MAX_AGE_MS),
      duplicate_window: nanos(2 * 60_000),
    });
  } catch (err) {
    if (!(await streamExists(jsm))) throw err;
  }
}

async function streamExists(jsm: JetStreamManager): Promise<boolean> {
  try {
    await jsm.streams.info(ASYNC_NAMES.workStream);
    return true;
  } catch (err) {
    if (err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamNotFound) return false;
    throw err;
  }
}
