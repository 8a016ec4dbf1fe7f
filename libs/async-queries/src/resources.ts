import {
  AckPolicy, DeliverPolicy, DiscardPolicy, JetStreamApiCodes, JetStreamApiError, RetentionPolicy, StorageType,
  jetstream, jetstreamManager, type Consumer, type JetStreamClient, type JetStreamManager,
} from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';
import { Objm, type ObjectStore } from '@nats-io/obj';
import { nanos, type NatsConnection } from '@nats-io/transport-node';
import { ASYNC_NAMES, ASYNC_WORK_MAX_AGE_MS, asyncRecordTtlMs, subjects } from '@halo/contracts';
import type { Logger } from '@halo/log';
import { openBucket, retrying } from '@halo/messaging';

/**
 * How long one call on the async resources retries through a leader election (no responders, no leader, not
 * enough replicas, a timeout where safe) by default: an election after a node's death takes seconds
 * (nats-server's election timeout is 4-9 s), and a worker keeps its job's lease meanwhile with `working()`.
 */
export const ASYNC_RETRY_BUDGET_MS = 15_000;

export interface AsyncResourcesOptions {
  /** Replicas of the stream and buckets when this process creates them: 1 on a single dev server, 3 in a cluster. */
  replicas: number;
  /** Result lifetime (object store max_age); must be the same in every facade and worker. */
  resultTtlMs: number;
  /** Told when the result store already exists with another TTL (it is kept as it is). */
  log?: Logger;
  /** How long one call retries through a leader election; default ASYNC_RETRY_BUDGET_MS. */
  retryBudgetMs?: number;
}

/** The JetStream resources of async queries: KV `async_queries`, the object store of result pages, a client. */
export interface AsyncResources {
  js: JetStreamClient;
  records: KV;
  results: ObjectStore;
}

/**
 * Creates (if missing) and opens the work-queue stream, the records bucket and the result store. Facades and
 * workers call this with the same settings: whichever starts first creates them, the others only open them.
 */
export async function openAsyncResources(nc: NatsConnection, options: AsyncResourcesOptions): Promise<AsyncResources> {
  const { replicas, resultTtlMs, log } = options;
  await ensureWorkStream(await jetstreamManager(nc), replicas);
  // Read from the stream leader (openBucket): a worker that read a just-created record as missing from a follower
  // would drop its job and leave the query queued for ever.
  const records = await openBucket(nc, ASYNC_NAMES.queries, { replicas, history: 1, ttl: asyncRecordTtlMs(resultTtlMs) });
  const results = await new Objm(nc).create(ASYNC_NAMES.results, { replicas, ttl: nanos(resultTtlMs), storage: StorageType.File });
  const status = await results.status();
  if (Math.abs(status.ttl - nanos(resultTtlMs)) > nanos(1000)) {
    log?.warn({ bucket: ASYNC_NAMES.results, ttlMs: Math.round(status.ttl / 1e6), wantedMs: resultTtlMs }, 'result store exists with another TTL; keeping it');
  }
  // Record writes are compare-and-set: AsyncRecords retries them itself (a timed-out one may have applied, so it
  // re-reads before sending again). Reads, pages and publishes (message id = query id, deduplicated by the
  // stream) are safe to send twice.
  const budgetMs = options.retryBudgetMs ?? ASYNC_RETRY_BUDGET_MS;
  return {
    js: retrying(jetstream(nc), { budgetMs }),
    records: retrying(records, { budgetMs, passThrough: ['create', 'update', 'watch'] }),
    results: retrying(results, { budgetMs, passThrough: ['put', 'watch'] }),
  };
}

/**
 * The workers' durable pull consumer of the work queue, created if missing; an existing one gets `ackWaitMs`
 * (how long a delivered job may go without an ack or `working()` before it is redelivered).
 */
export async function openWorkConsumer(nc: NatsConnection, ackWaitMs: number): Promise<Consumer> {
  const jsm = await jetstreamManager(nc);
  const info = () => jsm.consumers.info(ASYNC_NAMES.workStream, ASYNC_NAMES.workConsumer);
  if (await exists(info)) {
    await jsm.consumers.update(ASYNC_NAMES.workStream, ASYNC_NAMES.workConsumer, { ack_wait: nanos(ackWaitMs) });
  } else {
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
      // Another worker created it between our look and our add.
      if (!(await exists(info))) throw err;
    }
  }
  return jetstream(nc).consumers.get(ASYNC_NAMES.workStream, ASYNC_NAMES.workConsumer);
}

async function ensureWorkStream(jsm: JetStreamManager, replicas: number): Promise<void> {
  const info = () => jsm.streams.info(ASYNC_NAMES.workStream);
  if (await exists(info)) return;
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
