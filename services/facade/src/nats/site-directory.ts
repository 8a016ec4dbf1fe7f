import { KvWatchInclude, type KV } from '@nats-io/kv';
import { isAppError, type LookupRequest, type SiteView } from '@halo/contracts';
import { DEFAULT_THRESHOLDS, RegistryClient, RegistryStore, RegistryViews, practiceKey } from '@halo/registry-data';
import type { Logger } from '@halo/log';
import { bindBucket, type NatsConnection } from '@halo/messaging';
import { connectionState, type ConnectionState } from './connection-state.ts';
import type { SiteDirectory } from '../deps.ts';

/** The registry's KV buckets whose changes invalidate cached sites (ARCHITECTURE §5). */
const WATCHED_BUCKETS = { sites: 'sites', practices: 'practices' } as const;

/** The `practices` key of a site, as the registry writes it. */
function practiceKeyOf(site: { pmsType: string; pmsId: string }): string {
  return practiceKey(site.pmsType, site.pmsId);
}

export interface RegistryDirectoryOptions {
  nc: NatsConnection;
  /** How long a site answer is reused; default 2000 ms. */
  cacheTtlMs?: number;
  /** Most sites kept; the oldest entry goes first. Default 10 000. */
  cacheMaxEntries?: number;
  /** Per registry request; default 5000 ms. */
  timeoutMs?: number;
  /** The connection's tracked state, shared with its owner (default: tracked here, for the connection's life). */
  connection?: ConnectionState;
  /** Clock in epoch ms (tests). */
  now?: () => number;
  /** Where watch failures go; default nowhere. */
  log?: Logger;
  /** Wait before re-opening a failed or ended KV watch; default 1000 ms. */
  watchRetryMs?: number;
  /** After the registry failed to answer and its buckets did, how long reads go to the buckets first; default 2000 ms. */
  registryRetryMs?: number;
}

/**
 * SiteDirectory over the registry's NATS request-reply API. `get` answers are cached per Halo GUID for a short
 * TTL (found sites only, so a newly registered site is visible at once); concurrent misses share one request.
 * With `watch()`, changes to the registry's `sites` and `practices` buckets drop the affected entries at once,
 * so an authority move or a site's removal is seen by every facade replica within milliseconds, not a TTL.
 *
 * When no registry replica answers, `get` and `lookup` are answered from the registry's buckets (JetStream KV
 * outlives the registry process) by the registry's own RegistryViews, read at request time from the stream
 * leader: authority is as fresh as the registry's own answer would be. Availability then uses the default
 * thresholds, and ages as no registry records heartbeats. Pairing and support verbs write, so they still need it.
 */
export class NatsSiteDirectory implements SiteDirectory {
  /** Counts since start, for metrics: `get` answered from the cache or not, and which source answered each read. */
  readonly stats = { cacheHits: 0, cacheMisses: 0, reads: { registry: 0, buckets: 0, failed: 0 } };
  readonly #nc: NatsConnection;
  readonly #ttlMs: number;
  readonly #maxEntries: number;
  readonly #timeoutMs: number;
  readonly #now: () => number;
  readonly #cache = new Map<string, { site: SiteView; expires: number }>();
  readonly #inFlight = new Map<string, Promise<SiteView | null>>();
  readonly #log: Logger | undefined;
  readonly #watchRetryMs: number;
  readonly #registryRetryMs: number;
  readonly #connection: ConnectionState;
  readonly #client: RegistryClient;
  /** Opened at the first read that needs the buckets. */
  #views: Promise<RegistryViews> | null = null;
  /** Until then (epoch ms) reads go to the buckets first: the registry just failed to answer, maybe after a timeout. */
  #bucketsFirstUntil = 0;
  /** The last registry request failed and the buckets answered instead (logged once per outage). */
  #registryDown = false;
  /** Bumped by every invalidation: an answer fetched across one is not cached (it may predate the change). */
  #generation = 0;
  #watching: { stop(): void; done: Promise<void> } | null = null;

  constructor(options: RegistryDirectoryOptions) {
    this.#nc = options.nc;
    this.#ttlMs = options.cacheTtlMs ?? 2000;
    this.#maxEntries = options.cacheMaxEntries ?? 10_000;
    this.#timeoutMs = options.timeoutMs ?? 5000;
    this.#now = options.now ?? Date.now;
    this.#log = options.log;
    this.#watchRetryMs = options.watchRetryMs ?? 1000;
    this.#registryRetryMs = options.registryRetryMs ?? 2000;
    this.#connection = options.connection ?? connectionState(options.nc);
    this.#client = new RegistryClient(options.nc, { timeoutMs: this.#timeoutMs });
  }

  /**
   * Starts watching the registry's buckets in the background (re-opening the watch when it fails or the buckets
   * do not exist yet); resolves once the first watch is open or failed. `close()` stops it.
   */
  async watch(): Promise<void> {
    if (this.#watching) return;
    let stopped = false;
    let current: Array<{ stop(): void }> = [];
    let firstOpen: () => void = () => undefined;
    const opened = new Promise<void>((resolve) => { firstOpen = resolve; });
    const loop = async () => {
      while (!stopped && !this.#nc.isClosed()) {
        try {
          const sites = await bindBucket(this.#nc, WATCHED_BUCKETS.sites);
          const practices = await bindBucket(this.#nc, WATCHED_BUCKETS.practices);
          // One after the other, each kept in `current` as soon as it opens: should the second fail, the first
          // is stopped below instead of leaking one watch per retry.
          const watches = [];
          for (const [kv, bucket] of [[sites, 'sites'], [practices, 'practices']] as const) {
            const watch = await this.#watchBucket(kv, bucket);
            current.push(watch.iter);
            watches.push(watch);
          }
          // Anything cached may have changed while no watch was open.
          this.invalidate();
          firstOpen();
          if (stopped) break;
          await Promise.race(watches.map((w) => w.done));
        } catch (err) {
          this.#log?.warn({ err: err instanceof Error ? err.name : typeof err }, 'registry watch failed; cached sites fall back to the TTL');
        } finally {
          for (const w of current) w.stop();
          current = [];
        }
        firstOpen();
        if (!stopped) await new Promise((r) => setTimeout(r, this.#watchRetryMs));
      }
    };
    const done = loop();
    this.#watching = { stop: () => { stopped = true; for (const w of current) w.stop(); }, done };
    await opened;
  }

  /** Stops the KV watch (the NATS connection stays open). */
  async close(): Promise<void> {
    const watching = this.#watching;
    this.#watching = null;
    if (!watching) return;
    watching.stop();
    await watching.done;
  }

  async #watchBucket(kv: KV, bucket: keyof typeof WATCHED_BUCKETS): Promise<{ iter: { stop(): void }; done: Promise<void> }> {
    const iter = await kv.watch({ include: KvWatchInclude.UpdatesOnly });
    // Never rejects: the loop in watch() re-opens both watches when either ends.
    const done = (async () => {
      try {
        for await (const entry of iter) {
          if (bucket === 'sites') this.invalidate(entry.key);
          else this.#invalidatePractice(entry.key);
        }
      } catch (err) {
        this.#log?.warn({ bucket, err: err instanceof Error ? err.name : typeof err }, 'registry watch ended');
      }
    })();
    return { iter, done };
  }

  /** Drops every cached site of one practice (its authoritative site changed). */
  #invalidatePractice(key: string): void {
    this.#generation++;
    // Sites being fetched are not cached yet; their answer may predate the move.
    this.#inFlight.clear();
    for (const [haloGuid, { site }] of this.#cache) {
      if (practiceKeyOf(site) === key) this.#cache.delete(haloGuid);
    }
  }

  /** Sites registered for a PMS ID (never cached: integrators call it rarely and expect fresh answers). */
  async lookup(req: { pmsId: string; pmsType?: string }): Promise<SiteView[]> {
    const payload: LookupRequest = { pmsId: req.pmsId, ...(req.pmsType !== undefined ? { pmsType: req.pmsType } : {}) };
    const generation = this.#generation;
    const sites = await this.#read(
      () => this.#client.lookup(payload),
      (views) => views.sitesOf(req.pmsId, req.pmsType),
    );
    if (generation === this.#generation) for (const site of sites) this.#remember(site);
    return sites;
  }

  /** One site by Halo GUID, or null when the registry does not know it. */
  async get(haloGuid: string): Promise<SiteView | null> {
    const cached = this.#cache.get(haloGuid);
    if (cached && cached.expires > this.#now()) {
      this.stats.cacheHits++;
      return cached.site;
    }
    this.stats.cacheMisses++;
    const pending = this.#inFlight.get(haloGuid);
    if (pending) return pending;
    const request = this.#fetch(haloGuid).finally(() => {
      if (this.#inFlight.get(haloGuid) === request) this.#inFlight.delete(haloGuid);
    });
    this.#inFlight.set(haloGuid, request);
    return request;
  }

  /** Drops one cached site (or all): the hook for KV-watch invalidation. */
  invalidate(haloGuid?: string): void {
    this.#generation++;
    // A request in flight may answer from before the change: later callers ask afresh.
    if (haloGuid === undefined) {
      this.#cache.clear();
      this.#inFlight.clear();
    } else {
      this.#cache.delete(haloGuid);
      this.#inFlight.delete(haloGuid);
    }
  }

  async pair(integratorId: string, practice: { pmsType: string; pmsId: string; codeHash?: string }, onboardedPmsTypes?: readonly string[]): Promise<SiteView | null> {
    this.#connection.assertConnected('site lookups are');
    return this.#client.pair({ integratorId, ...practice, ...(onboardedPmsTypes ? { onboardedPmsTypes: [...onboardedPmsTypes] } : {}) });
  }

  async #fetch(haloGuid: string): Promise<SiteView | null> {
    const generation = this.#generation;
    const site = await this.#read(
      () => this.#client.site(haloGuid),
      (views) => views.site(haloGuid),
    );
    if (site && generation === this.#generation) this.#remember(site);
    else this.#cache.delete(haloGuid);
    return site;
  }

  #remember(site: SiteView): void {
    this.#cache.delete(site.haloGuid);
    this.#cache.set(site.haloGuid, { site, expires: this.#now() + this.#ttlMs });
    while (this.#cache.size > this.#maxEntries) {
      const oldest = this.#cache.keys().next();
      if (oldest.done) break;
      this.#cache.delete(oldest.value);
    }
  }

  /**
   * A read from the registry, or from its buckets when it does not answer. Right after the registry failed (and
   * the buckets answered), the buckets go first for a moment, so a hung registry costs one timeout, not one per read.
   */
  async #read<T>(fromRegistry: () => Promise<T>, fromBuckets: (views: RegistryViews) => Promise<T>): Promise<T> {
    try {
      const { answer, source } = await this.#readFrom(fromRegistry, fromBuckets);
      this.stats.reads[source]++;
      return answer;
    } catch (err) {
      this.stats.reads.failed++;
      throw err;
    }
  }

  async #readFrom<T>(fromRegistry: () => Promise<T>, fromBuckets: (views: RegistryViews) => Promise<T>): Promise<{ answer: T; source: 'registry' | 'buckets' }> {
    this.#connection.assertConnected('site lookups are');
    if (this.#now() < this.#bucketsFirstUntil) {
      try {
        return { answer: await fromBuckets(await this.#openViews()), source: 'buckets' };
      } catch {
        this.#bucketsFirstUntil = 0;
      }
    }
    let answer: T;
    try {
      answer = await fromRegistry();
    } catch (err) {
      if (!isAppError(err) || err.code !== 'registry_unavailable') throw err;
      try {
        answer = await fromBuckets(await this.#openViews());
      } catch {
        // Neither answers (JetStream itself is down): the registry's error says what integrators need to know.
        throw err;
      }
      if (!this.#registryDown) this.#log?.warn({ retryMs: this.#registryRetryMs }, 'registry not answering; reads answered from its buckets');
      this.#registryDown = true;
      this.#bucketsFirstUntil = this.#now() + this.#registryRetryMs;
      return { answer, source: 'buckets' };
    }
    if (this.#registryDown) this.#log?.info('registry answering again');
    this.#registryDown = false;
    return { answer, source: 'registry' };
  }

  #openViews(): Promise<RegistryViews> {
    if (!this.#views) {
      const views = RegistryStore.bind(this.#nc).then((store) => new RegistryViews(store, DEFAULT_THRESHOLDS, this.#now));
      // A failed bind is not kept: the next read tries again.
      views.catch(() => {
        if (this.#views === views) this.#views = null;
      });
      this.#views = views;
    }
    return this.#views;
  }
}
