import type { KV } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import type { FastifyBaseLogger } from 'fastify';
import { LinkRecord } from '@halo/contracts';
import { bindBucket, openBucket } from '@halo/messaging';

/** KV bucket of heartbeat history: one key per link per slot in which the registry heard from it; 25 h TTL. */
export const AVAILABILITY_BUCKET = 'availability_history';
/** One slot of the strip: a quarter of an hour. */
export const SLOT_MS = 15 * 60 * 1000;
/** Slots in the strip: the last 24 hours. */
export const SLOTS = 96;

/**
 * Heartbeat history for the console's 24-hour strips, kept in JetStream (not in a facade's memory). Every replica
 * watches the registry's `links` bucket (each heartbeat rewrites the link's `lastSeen`) and marks the link's
 * slot `h.<linkGuid>.<slot>`; the same key from several replicas is one entry, so replicas need no coordination.
 * Metadata only: when a link was heard from, nothing else.
 */
export class AvailabilityHistory {
  readonly #kv: KV;
  readonly #nc: NatsConnection;
  readonly #log: FastifyBaseLogger | undefined;
  /** The slot this replica last marked, per link (saves a write per heartbeat). */
  readonly #marked = new Map<string, number>();
  #stopped = false;
  #stop: () => void = () => undefined;
  #done: Promise<void> = Promise.resolve();

  private constructor(kv: KV, nc: NatsConnection, log?: FastifyBaseLogger) {
    this.#kv = kv;
    this.#nc = nc;
    this.#log = log;
  }

  static async open(nc: NatsConnection, options: { replicas?: number; log?: FastifyBaseLogger } = {}): Promise<AvailabilityHistory> {
    const kv = await openBucket(nc, AVAILABILITY_BUCKET, { history: 1, ttl: (SLOTS + 4) * SLOT_MS, replicas: options.replicas ?? 1 });
    const history = new AvailabilityHistory(kv, nc, options.log);
    history.#done = history.#watch();
    return history;
  }

  /** Which of the last SLOTS slots (oldest first) the link was heard from in. */
  async strip(linkGuid: string, now = Date.now()): Promise<boolean[]> {
    const current = Math.floor(now / SLOT_MS);
    const seen = new Set<number>();
    for await (const key of await this.#kv.keys(`h.${linkGuid}.*`)) seen.add(Number(key.slice(key.lastIndexOf('.') + 1)));
    return Array.from({ length: SLOTS }, (_, i) => seen.has(current - SLOTS + 1 + i));
  }

  async close(): Promise<void> {
    this.#stopped = true;
    this.#stop();
    await this.#done;
  }

  async #watch(): Promise<void> {
    let failing = false;
    while (!this.#stopped && !this.#nc.isClosed()) {
      try {
        const links = await bindBucket(this.#nc, 'links');
        const iter = await links.watch();
        this.#stop = () => iter.stop();
        if (this.#stopped) iter.stop();
        failing = false;
        for await (const entry of iter) {
          if (entry.operation !== 'PUT') continue;
          const parsed = LinkRecord.safeParse(entry.json());
          if (parsed.success) await this.#mark(entry.key, Date.parse(parsed.data.lastSeen));
        }
      } catch (err) {
        // Once per outage (the registry's bucket may not exist yet), not once a second.
        if (!failing) this.#log?.warn({ err: err instanceof Error ? err.name : typeof err }, 'availability history watch failed; retrying');
        failing = true;
      }
      if (!this.#stopped) await new Promise((r) => setTimeout(r, 1000).unref());
    }
  }

  async #mark(linkGuid: string, at: number): Promise<void> {
    if (!Number.isFinite(at) || at < Date.now() - SLOTS * SLOT_MS) return;
    const slot = Math.floor(at / SLOT_MS);
    if (this.#marked.get(linkGuid) === slot) return;
    await this.#kv.put(`h.${linkGuid}.${slot}`, '');
    this.#marked.set(linkGuid, slot);
  }
}
