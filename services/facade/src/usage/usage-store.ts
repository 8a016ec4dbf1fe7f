import { randomBytes } from 'node:crypto';
import { DeliverPolicy, jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { z } from 'zod';
import { openBucket } from '@halo/messaging';

/** The KV bucket holding integrator requests' entries, several to a key; keys age out after USAGE_MAX_AGE_MS. */
export const USAGE_BUCKET = 'usage';
/** How long usage is kept (the portal shows the last 14 days). */
export const USAGE_MAX_AGE_MS = 31 * 24 * 3600 * 1000;
/** The bucket's size bound: the oldest entries go first beyond it. */
const USAGE_MAX_BYTES = 256 * 1024 * 1024;
/** Most entries one read scans (newest kept). */
const MAX_SCAN = 50_000;
/** How long record() holds an integrator's entries back to write them as one key, and the most it holds. */
const BATCH_MS = 100;
const MAX_BATCH = 500;
/**
 * How much earlier than asked a read starts in the stream: a batch is stored after its entries were made, and by
 * the hub's clock, which may differ from the facade's that stamped them. The entries' own `at` is then exact.
 */
const READ_SLACK_MS = 60_000;

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
  /** Writes what record() holds back now (at shutdown). */
  flush(): void;
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

/**
 * Usage in a JetStream KV bucket (`usage`): each key holds the entries of one integrator over up to BATCH_MS (a
 * JSON array), read back through the bucket's stream. One key per request was a JetStream write per query, which
 * cost the hub more than the query's own messages.
 */
export class NatsUsageStore implements UsageStore {
  readonly #nc: NatsConnection;
  readonly #js: JetStreamClient;
  readonly #jsm: JetStreamManager;
  /** Entries not written yet, by integrator id. */
  readonly #held = new Map<string, UsageEntry[]>();
  #timer: NodeJS.Timeout | undefined;

  private constructor(nc: NatsConnection, js: JetStreamClient, jsm: JetStreamManager) {
    this.#nc = nc;
    this.#js = js;
    this.#jsm = jsm;
  }

  /** Creates the bucket if missing (idempotent across replicas) and opens it. */
  static async open(nc: NatsConnection, replicas = 1): Promise<NatsUsageStore> {
    await openBucket(nc, USAGE_BUCKET, { history: 1, ttl: USAGE_MAX_AGE_MS, max_bytes: USAGE_MAX_BYTES, replicas });
    return new NatsUsageStore(nc, jetstream(nc), await jetstreamManager(nc));
  }

  /**
   * Holds the entry back for up to BATCH_MS, then writes the integrator's held entries as one key with a plain
   * publish onto the bucket's subject, no acknowledgement awaited (a JetStream round trip each otherwise). A hub in
   * trouble may drop a batch, and a facade killed outright loses its last BATCH_MS; usage is a report, not a
   * ledger. Built here from the request's metadata, so it is not validated again.
   */
  async record(entry: UsageEntry): Promise<void> {
    let held = this.#held.get(entry.integratorId);
    if (!held) this.#held.set(entry.integratorId, (held = []));
    held.push(entry);
    if (held.length >= MAX_BATCH) this.#write(entry.integratorId, held);
    else this.#timer ??= setTimeout(() => this.flush(), BATCH_MS).unref();
  }

  flush(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    for (const [integratorId, held] of this.#held) this.#write(integratorId, held);
  }

  #write(integratorId: string, held: UsageEntry[]): void {
    this.#held.delete(integratorId);
    // At shutdown the connection may be closed or draining before the facade: there is nowhere left to write to.
    if (this.#nc.isClosed() || this.#nc.isDraining()) return;
    const id = `${held[0]!.at.toString(36)}_${KEY_PREFIX}${(keyCounter++).toString(36)}`;
    this.#nc.publish(`$KV.${USAGE_BUCKET}.q.${token(integratorId)}.${id}`, JSON.stringify(held));
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
      filter_subjects: [subject], deliver_policy: DeliverPolicy.StartTime, opt_start_time: new Date(sinceMs - READ_SLACK_MS).toISOString(),
    });
    try {
      const messages = await consumer.fetch({ max_messages: total, expires: 2000 });
      for await (const m of messages) {
        // A key holds a batch, or one entry as keys were written before entries were batched.
        const stored: unknown = m.json();
        for (const value of Array.isArray(stored) ? stored : [stored]) {
          const parsed = UsageEntry.safeParse(value);
          // A batch is stored after its first entry was made: that entry may be older than asked for. An entry
          // naming another integrator than its key is never shown here, whatever wrote it.
          if (parsed.success && parsed.data.at >= sinceMs && parsed.data.integratorId === integratorId) out.push(parsed.data);
        }
        if (m.info.pending === 0) break;
      }
      return out.length > MAX_SCAN ? out.slice(-MAX_SCAN) : out;
    } finally {
      await consumer.delete().catch(() => undefined);
    }
  }
}
