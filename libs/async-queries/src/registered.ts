import {
  AckPolicy, DeliverPolicy, DiscardPolicy, JetStreamApiCodes, JetStreamApiError, RetentionPolicy, StorageType,
  jetstream, jetstreamManager, type Consumer, type JetStreamClient,
} from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';
import { Objm, type ObjectStore } from '@nats-io/obj';
import { nanos, type NatsConnection } from '@nats-io/transport-node';
import {
  AppError, REGISTERED_LIMITS, REGISTERED_NAMES, RegisteredQueryRecord, RegisteredQueryResult, registeredKey, registeredSiteKeys, registeredSubjects,
  type RegisteredTick,
} from '@halo/contracts';
import { openBucket } from '@halo/messaging';
import { isRevisionConflict } from './records.ts';

/** KV TTL of a registered query record (from its last write): its longest life plus its retention. */
const RECORD_TTL_MS = REGISTERED_LIMITS.maxDurationSeconds * 1000 + REGISTERED_LIMITS.retentionMs;
/** A tick is published again (same msgID) only by a redelivered tick, within ack_wait: 10 min is ample. */
const TICK_DUPLICATE_WINDOW_MS = 10 * 60_000;
const MAX_CAS_ATTEMPTS = 20;

/** The JetStream resources of registered queries. */
export interface RegisteredResources {
  js: JetStreamClient;
  records: RegisteredRecords;
  results: RegisteredResults;
}

/**
 * Creates (if missing) and opens the tick stream, the records bucket and the result store. Facades and workers
 * call this with the same settings: whichever starts first creates them, the others only open them.
 */
export async function openRegisteredResources(nc: NatsConnection, options: { replicas: number }): Promise<RegisteredResources> {
  const { replicas } = options;
  const jsm = await jetstreamManager(nc);
  await ensure(() => jsm.streams.info(REGISTERED_NAMES.tickStream), () => jsm.streams.add({
    name: REGISTERED_NAMES.tickStream,
    subjects: [registeredSubjects.tickAll()],
    retention: RetentionPolicy.Workqueue,
    storage: StorageType.File,
    discard: DiscardPolicy.Old,
    num_replicas: replicas,
    // A tick waits at most one frequency (<= 24 h) before it is due.
    max_age: nanos(REGISTERED_LIMITS.maxDurationSeconds * 1000 + 60 * 60_000),
    // msgID = `<id>.<tick>`: a redelivered tick publishing its successor again never schedules it twice.
    duplicate_window: nanos(TICK_DUPLICATE_WINDOW_MS),
  }));
  const kv = await openBucket(nc, REGISTERED_NAMES.queries, { replicas, history: 1, ttl: RECORD_TTL_MS });
  const os = await new Objm(nc).create(REGISTERED_NAMES.results, { replicas, ttl: nanos(RECORD_TTL_MS), storage: StorageType.File });
  const js = jetstream(nc);
  return { js, records: new RegisteredRecords(kv), results: new RegisteredResults(os) };
}

/**
 * The workers' durable pull consumer of ticks. A tick not yet due is nak'd with its delay and waits in the
 * server, so every registered query's next tick counts as pending: no ack-pending limit.
 */
export async function openTickConsumer(nc: NatsConnection, ackWaitMs: number): Promise<Consumer> {
  const jsm = await jetstreamManager(nc);
  const config = { ack_wait: nanos(ackWaitMs), max_ack_pending: -1 };
  await ensure(
    async () => jsm.consumers.update(REGISTERED_NAMES.tickStream, REGISTERED_NAMES.tickConsumer, config),
    () => jsm.consumers.add(REGISTERED_NAMES.tickStream, {
      durable_name: REGISTERED_NAMES.tickConsumer,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      max_deliver: -1,
      filter_subject: registeredSubjects.tickAll(),
      ...config,
    }),
  );
  return jetstream(nc).consumers.get(REGISTERED_NAMES.tickStream, REGISTERED_NAMES.tickConsumer);
}

/** Publishes a tick; its msgID makes a second publish of the same tick (a redelivered predecessor) a no-op. */
export async function publishTick(js: JetStreamClient, tick: RegisteredTick): Promise<void> {
  await js.publish(registeredSubjects.tick(tick.siteId, tick.id), JSON.stringify(tick), { msgID: `${tick.id}.${tick.tick}` });
}

/** A record and the KV revision it was read at. */
export interface StoredRegistered {
  record: RegisteredQueryRecord;
  revision: number;
}

/** KV `registered_queries`: every write is a compare-and-set on the revision it read. */
export class RegisteredRecords {
  readonly #kv: KV;

  constructor(kv: KV) {
    this.#kv = kv;
  }

  async create(record: RegisteredQueryRecord): Promise<void> {
    await this.#kv.create(registeredKey(record.siteId, record.id), JSON.stringify(RegisteredQueryRecord.parse(record)));
  }

  async get(siteId: string, id: string): Promise<StoredRegistered | null> {
    const entry = await this.#kv.get(registeredKey(siteId, id));
    if (!entry || entry.operation !== 'PUT') return null;
    const parsed = RegisteredQueryRecord.safeParse(entry.json());
    if (!parsed.success) throw new AppError('internal', 'corrupt registered query record', { cause: parsed.error });
    return { record: parsed.data, revision: entry.revision };
  }

  /** Every record of one site (the caller filters by integrator). */
  async listSite(siteId: string): Promise<RegisteredQueryRecord[]> {
    const keys: string[] = [];
    for await (const key of await this.#kv.keys(registeredSiteKeys(siteId))) keys.push(key);
    const out: RegisteredQueryRecord[] = [];
    for (const key of keys) {
      const found = await this.get(siteId, key.slice(key.indexOf('.') + 1));
      if (found) out.push(found.record);
    }
    return out.sort((a, b) => a.createdAt - b.createdAt);
  }

  /**
   * Applies `change` to the current record and writes it, re-reading and retrying on a concurrent write. Returns
   * what was written, or null (writing nothing) when the record is gone or `change` returns null.
   */
  async update(siteId: string, id: string, change: (record: RegisteredQueryRecord) => RegisteredQueryRecord | null): Promise<RegisteredQueryRecord | null> {
    for (let attempt = 0; attempt < MAX_CAS_ATTEMPTS; attempt++) {
      const current = await this.get(siteId, id);
      if (!current) return null;
      const next = change(structuredClone(current.record));
      if (!next) return null;
      try {
        await this.#kv.update(registeredKey(siteId, id), JSON.stringify(RegisteredQueryRecord.parse(next)), current.revision);
        return next;
      } catch (err) {
        if (!isRevisionConflict(err)) throw err;
      }
    }
    throw new AppError('internal', 'registered query record kept changing');
  }
}

/** Object store `registered_results`: the last result of each registered query. */
export class RegisteredResults {
  readonly #os: ObjectStore;

  constructor(os: ObjectStore) {
    this.#os = os;
  }

  async put(id: string, result: RegisteredQueryResult): Promise<void> {
    await this.#os.putBlob({ name: id }, new TextEncoder().encode(JSON.stringify(result)));
  }

  async get(id: string): Promise<RegisteredQueryResult | null> {
    const blob = await this.#os.getBlob(id);
    if (!blob) return null;
    const parsed = RegisteredQueryResult.safeParse(JSON.parse(new TextDecoder().decode(blob)));
    if (!parsed.success) throw new AppError('internal', 'corrupt registered query result', { cause: parsed.error });
    return parsed.data;
  }
}

/** Runs `look`; when what it looks at does not exist, runs `make` (another process may have made it meanwhile). */
async function ensure(look: () => Promise<unknown>, make: () => Promise<unknown>): Promise<void> {
  try {
    await look();
    return;
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
  try {
    await make();
  } catch (err) {
    try {
      await look();
    } catch {
      throw err;
    }
  }
}

export function isNotFound(err: unknown): boolean {
  return err instanceof JetStreamApiError && (err.code === JetStreamApiCodes.StreamNotFound || err.code === JetStreamApiCodes.ConsumerNotFound);
}
