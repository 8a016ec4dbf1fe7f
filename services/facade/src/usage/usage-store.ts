import { randomBytes } from 'node:crypto';
import { Kvm } from '@nats-io/kv';
import { DeliverPolicy, jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { z } from 'zod';

/** The KV bucket holding one entry per integrator request; entries age out after USAGE_MAX_AGE_MS. */
export const USAGE_BUCKET = 'usage';
/** How long usage is kept (the portal shows the last 14 days). */
export const USAGE_MAX_AGE_MS = 31 * 24 * 3600 * 1000;
/** The bucket's size bound: the oldest entries go first beyond it. */
const USAGE_MAX_BYTES = 256 * 1024 * 1024;
/** Most entries one read scans (newest kept). */
const MAX_SCAN = 50_000;

/** One integrator request as the portal shows it: metadata only, never query text, parameters or rows. */
export const UsageEntry = z.object({
  at: z.number().int(),
  integratorId: z.string(),
  route: z.string(),
  status: z.number().int(),
  durationMs: z.number().nonnegative(),
  bytes: z.number().int().nonnegative(),
  siteId: z.string().optional(),
  queryId: z.string().optional(),
  mode: z.string().optional(),
  errorCode: z.string().optional(),
});
export type UsageEntry = z.infer<typeof UsageEntry>;

/** Where usage goes and comes back from; the facade's replicas share it (JetStream), none keeps it in memory. */
export interface UsageStore {
  record(entry: UsageEntry): Promise<void>;
  /** The integrator's entries since `sinceMs` (epoch ms), oldest first, at most MAX_SCAN of the newest. */
  read(integratorId: string, sinceMs: number): Promise<UsageEntry[]>;
}

/**
 * Entry keys are unique without a random draw per request (randomBytes was a syscall's worth of CPU per query):
 * a random prefix per process, then a counter.
 */
const KEY_PREFIX = randomBytes(6).toString('hex');
let keyCounter = 0;

/** Integrator ids may hold dots, which split subject tokens: the key carries them hex-encoded. */
const token = (integratorId: string) => Buffer.from(integratorId, 'utf8').toString('hex');

/** Usage in a JetStream KV bucket (`usage`): one key per request, read back through the bucket's stream. */
export class NatsUsageStore implements UsageStore {
  readonly #nc: NatsConnection;
  readonly #js: JetStreamClient;
  readonly #jsm: JetStreamManager;

  private constructor(nc: NatsConnection, js: JetStreamClient, jsm: JetStreamManager) {
    this.#nc = nc;
    this.#js = js;
    this.#jsm = jsm;
  }

  /** Creates the bucket if missing (idempotent across replicas) and opens it. */
  static async open(nc: NatsConnection, replicas = 1): Promise<NatsUsageStore> {
    await new Kvm(nc).create(USAGE_BUCKET, { history: 1, ttl: USAGE_MAX_AGE_MS, max_bytes: USAGE_MAX_BYTES, replicas });
    return new NatsUsageStore(nc, jetstream(nc), await jetstreamManager(nc));
  }

  /**
   * A plain publish onto the bucket's subject, no acknowledgement awaited: one per integrator request, after its
   * answer went out, and nobody waits for it (a JetStream round trip each otherwise). A hub in trouble may drop
   * one; usage is a report, not a ledger. Built here from the request's metadata, so it is not validated again.
   */
  async record(entry: UsageEntry): Promise<void> {
    const id = `${entry.at.toString(36)}_${KEY_PREFIX}${(keyCounter++).toString(36)}`;
    this.#nc.publish(`$KV.${USAGE_BUCKET}.q.${token(entry.integratorId)}.${id}`, JSON.stringify(entry));
  }

  async read(integratorId: string, sinceMs: number): Promise<UsageEntry[]> {
    const stream = `KV_${USAGE_BUCKET}`;
    const subject = `$KV.${USAGE_BUCKET}.q.${token(integratorId)}.>`;
    // Counting first: a fetch for messages that do not exist would wait out its expiry.
    const info = await this.#jsm.streams.info(stream, { subjects_filter: subject });
    const total = Math.min(Object.values(info.state.subjects ?? {}).reduce((a, b) => a + b, 0), MAX_SCAN);
    const out: UsageEntry[] = [];
    if (total === 0) return out;
    const consumer = await this.#js.consumers.get(stream, {
      filter_subjects: [subject], deliver_policy: DeliverPolicy.StartTime, opt_start_time: new Date(sinceMs).toISOString(),
    });
    try {
      const messages = await consumer.fetch({ max_messages: total, expires: 2000 });
      for await (const m of messages) {
        const parsed = UsageEntry.safeParse(m.json());
        if (parsed.success) out.push(parsed.data);
        if (m.info.pending === 0) break;
      }
      return out;
    } finally {
      await consumer.delete().catch(() => undefined);
    }
  }
}
