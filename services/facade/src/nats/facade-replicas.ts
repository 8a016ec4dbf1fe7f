import { setTimeout as delay } from 'node:timers/promises';
import type { KV } from '@nats-io/kv';
import type { Logger } from '@halo/log';
import { type NatsConnection, openBucket, retrying } from '@halo/messaging';

/** How long close() waits for its key's delete before leaving it to expire. */
const DELETE_WAIT_MS = 500;

/** The bucket where each facade replica announces itself: key = its requester id. */
export const REPLICAS_BUCKET = 'facade_replicas';

export interface FacadeReplicasOptions {
  nc: NatsConnection;
  /** This replica's key in the bucket (its requester id: unique per replica, a valid KV key). */
  id: string;
  /** A replica not heard from for this long no longer counts; it re-announces every third of it. Default 10 000. */
  ttlMs?: number;
  /** Stream replicas when this creates the bucket; default 1. */
  replicas?: number;
  log?: Logger;
}

/**
 * How many facade replicas are live, so each can enforce 1/N of every integrator's rate limit.
 *
 * Each replica puts its key every ttl/3 and watches the bucket; a key not updated for a ttl (by this replica's own
 * clock, so clock skew between replicas does not matter) or deleted (a replica's close) drops out. Per request this
 * costs nothing on NATS, where a shared counter would cost a round trip and contend on one key. The sum of the
 * shares equals the limit, so it is equal to a shared bucket while the balancer spreads an integrator's requests
 * evenly; its error: with uneven balancing an integrator gets less (a replica refuses at its share while others
 * are idle), and a replica that died without closing keeps its share for up to a ttl (the others enforce less).
 * While the bucket is unreachable the count stays as last seen (at least 1: this replica alone).
 */
export class FacadeReplicas {
  readonly #nc: NatsConnection;
  readonly #id: string;
  readonly #ttlMs: number;
  readonly #replicas: number;
  readonly #log: Logger | undefined;
  /** Other replicas' ids and when this replica last heard of each (local clock). */
  readonly #seen = new Map<string, number>();
  #kv: KV | undefined;
  #stopped = false;
  #watch: { stop(): void } | undefined;
  #timer: NodeJS.Timeout | undefined;
  #done: Promise<void> = Promise.resolve();
  /** Ends the wait before a watch retry (close). */
  #wake: () => void = () => undefined;

  private constructor(options: FacadeReplicasOptions) {
    this.#nc = options.nc;
    this.#id = options.id;
    this.#ttlMs = options.ttlMs ?? 10_000;
    this.#replicas = options.replicas ?? 1;
    this.#log = options.log;
  }

  /** Announces this replica and starts watching the others; resolves once the first watch is open or failed. */
  static async open(options: FacadeReplicasOptions): Promise<FacadeReplicas> {
    const replicas = new FacadeReplicas(options);
    await replicas.#start();
    return replicas;
  }

  /** Live replicas, this one included (>= 1). */
  count(): number {
    const oldest = Date.now() - this.#ttlMs;
    for (const [id, at] of this.#seen) if (at < oldest) this.#seen.delete(id);
    return this.#seen.size + 1;
  }

  /** Stops announcing and watching and deletes this replica's key, so the others take its share at once. */
  async close(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    clearInterval(this.#timer);
    this.#watch?.stop();
    this.#wake();
    await this.#done;
    // Best effort, and briefly: a key left behind expires by its TTL, and a connection already closing would
    // otherwise hold close() for JetStream's whole request timeout.
    if (!this.#kv || this.#nc.isClosed() || this.#nc.isDraining()) return;
    const deleted = this.#kv.delete(this.#id).catch((err: unknown) => this.#log?.warn({ err: errName(err) }, 'facade replica key not deleted; it expires'));
    await Promise.race([deleted, delay(DELETE_WAIT_MS, undefined, { ref: false })]);
  }

  async #start(): Promise<void> {
    let firstOpen: () => void = () => undefined;
    const opened = new Promise<void>((resolve) => { firstOpen = resolve; });
    this.#timer = setInterval(() => void this.#announce(), Math.max(1, Math.floor(this.#ttlMs / 3)));
    this.#timer.unref();
    // Re-opens the watch when it ends (connection loss, bucket deleted), like the registry watch.
    const loop = async () => {
      while (!this.#stopped && !this.#nc.isClosed()) {
        try {
          // Bucket entries outlive a crashed replica's share only as garbage: liveness is the local ttl above.
          // Announcements retry through a leader election for at most a third of the TTL (the next one follows).
          this.#kv ??= retrying(await openBucket(this.#nc, REPLICAS_BUCKET, { history: 1, ttl: 60_000, replicas: this.#replicas }), { budgetMs: Math.floor(this.#ttlMs / 3), passThrough: ['watch'] });
          await this.#announce();
          const iter = await this.#kv.watch();
          this.#watch = iter;
          firstOpen();
          if (this.#stopped) iter.stop();
          for await (const entry of iter) {
            if (entry.key === this.#id) continue;
            if (entry.operation === 'PUT') this.#seen.set(entry.key, Date.now());
            else this.#seen.delete(entry.key);
          }
        } catch (err) {
          this.#log?.warn({ err: errName(err) }, 'facade replicas watch failed; rate limit shares stay as last seen');
        }
        firstOpen();
        if (this.#stopped) break;
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, Math.max(1, Math.floor(this.#ttlMs / 3)));
          this.#wake = () => { clearTimeout(timer); resolve(); };
        });
      }
    };
    this.#done = loop();
    await opened;
  }

  async #announce(): Promise<void> {
    if (this.#stopped || !this.#kv) return;
    await this.#kv.put(this.#id, '').catch((err: unknown) => this.#log?.warn({ err: errName(err) }, 'facade replica announcement failed'));
  }
}

function errName(err: unknown): string {
  return err instanceof Error ? err.name : typeof err;
}
