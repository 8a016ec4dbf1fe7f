import {
  AckPolicy, DeliverPolicy, DiscardPolicy, JetStreamApiCodes, JetStreamApiError, RetentionPolicy, StorageType,
  jetstream, jetstreamManager, type Consumer, type JetStreamClient, type JetStreamManager,
} from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import { Objm, type ObjectStore } from '@nats-io/obj';
import { nanos, type NatsConnection } from '@nats-io/transport-node';
import { ASYNC_NAMES, ASYNC_WORK_MAX_AGE_MS, asyncRecordTtlMs, subjects } from '@halo/contracts';
import type { Logger } from '@halo/log';

export interface AsyncStoreOptions {
  /** Replicas of the stream and buckets: 1 on a single dev server, 3 in a cluster. */
  replicas: number;
  /** Result lifetime (object store max_age). */
  resultTtlMs: number;
  /** How long a delivered job may go without an ack or `working()` before it is redelivered. */
  ackWaitMs: number;
  log: Logger;
}

/** The JetStream resources of async queries, as the worker uses them. */
export interface AsyncStore {
  js: JetStreamClient;
  records: KV;
  results: ObjectStore;
  consumer: Consumer;
}

/**
 * Creates (if missing) and opens the work-queue stream, its durable consumer, the KV bucket and the object store.
 * The facade creates the same stream and buckets with the same settings: whichever starts first wins, and the
 * other only opens them. A bucket created earlier with another TTL is kept as it is (logged).
 */
export async function openAsyncStore(nc: NatsConnection, options: AsyncStoreOptions): Promise<AsyncStore> {
  const { replicas, resultTtlMs, log } = options;
  const jsm = await jetstreamManager(nc);
  await ensureStream(jsm, replicas);
  await ensureConsumer(jsm, options.ackWaitMs);
  const records = await new Kvm(nc).create(ASYNC_NAMES.queries, { replicas, history: 1, ttl: asyncRecordTtlMs(resultTtlMs) });
  const results = await new Objm(nc).create(ASYNC_NAMES.results, { replicas, ttl: nanos(resultTtlMs), storage: StorageType.File });
  const status = await results.status();
  if (Math.abs(status.ttl - nanos(resultTtlMs)) > nanos(1000)) {
    log.warn({ bucket: ASYNC_NAMES.results, ttlMs: Math.round(status.ttl / 1e6), wantedMs: resultTtlMs }, 'result store exists with another TTL; keeping it');
  }
  const js = jetstream(nc);
  const consumer = await js.consumers.get(ASYNC_NAMES.workStream, ASYNC_NAMES.workConsumer);
  return { js, records, results, consumer };
}

async function ensureStream(jsm: JetStreamManager, replicas: number): Promise<void> {
  if (await exists(() => jsm.streams.info(ASYNC_NAMES.workStream))) return;
  try {
    await jsm.streams.add({
      name: ASYNC_NAMES.workStream,
      subjects: [subjects.asyncWorkAll()],
      retention: RetentionPolicy.Workqueue,
      storage: StorageType.File,
      discard: DiscardPolicy.Old,
      num_replicas: replicas,
      max_age: nanos(ASYNC_WORK_MAX_AGE_MS),
      // msgID = queryId: a facade retrying a publish never queues a query twice.
      duplicate_window: nanos(2 * 60_000),
    });
  } catch (err) {
    // Another process created it between our look and our add.
    if (!(await exists(() => jsm.streams.info(ASYNC_NAMES.workStream)))) throw err;
  }
}

async function ensureConsumer(jsm: JetStreamManager, ackWaitMs: number): Promise<void> {
  const info = () => jsm.consumers.info(ASYNC_NAMES.workStream, ASYNC_NAMES.workConsumer);
  if (await exists(info)) {
    await jsm.consumers.update(ASYNC_NAMES.workStream, ASYNC_NAMES.workConsumer, { ack_wait: nanos(ackWaitMs) });
    return;
  }
  try {
    await jsm.consumers.add(ASYNC_NAMES.workStream, {
      durable_name: ASYNC_NAMES.workConsumer,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      ack_wait: nanos(ackWaitMs),
      // Offline sites are retried by nak with delay until their queue deadline: no delivery limit.
      max_deliver: -1,
      filter_subject: subjects.asyncWorkAll(),
    });
  } catch (err) {
    if (!(await exists(info))) throw err;
  }
}

async function exists(fn: () => Promise<unknown>): Promise<boolean> {
  try {
    await fn();
    return true;
  } catch (err) {
    if (err instanceof JetStreamApiError && (err.code === JetStreamApiCodes.StreamNotFound || err.code === JetStreamApiCodes.ConsumerNotFound)) return false;
    throw err;
  }
}
