import { jetstream } from '@nats-io/jetstream';
import { SiteResult, subjects, type DependencyHealth, type SiteRequest } from '@halo/contracts';
import { bindBucket, type NatsConnection } from '@halo/messaging';
import { BUCKETS } from '@halo/registry-data';
import type { HealthReport } from '../deps.ts';
import { requestRegistry } from '@halo/registry-data';

/** A Halo GUID no site has: the registry answers `site: null` after one KV read, which makes the whole ping. */
const PROBE_GUID = '00000000-0000-4000-8000-000000000000';

export interface DependencyHealthOptions {
  nc: NatsConnection;
  /** The connection's state now: `connected` when up. */
  nats: () => string;
  /** Per probe; default 1000 ms. */
  timeoutMs?: number;
  /** How long probe results are reused; default 1000 ms, so load balancers polling `/health` cost next to nothing. */
  cacheMs?: number;
  /** Clock in epoch ms (tests). */
  now?: () => number;
}

/**
 * `FacadeDeps.health` over NATS: the connection's state, whether a registry replica answers a ping, and whether
 * JetStream answers for the registry's `sites` bucket (which the facade reads from while no registry does).
 * Concurrent callers share one probe; without a connection nothing is probed.
 */
export function dependencyHealth(options: DependencyHealthOptions): () => Promise<HealthReport> {
  const { nc } = options;
  const timeoutMs = options.timeoutMs ?? 1000;
  const cacheMs = options.cacheMs ?? 1000;
  const now = options.now ?? Date.now;
  const js = jetstream(nc, { timeout: timeoutMs });
  const ok = (): DependencyHealth => 'ok';
  const unavailable = (): DependencyHealth => 'unavailable';
  const probe = async (): Promise<Pick<HealthReport, 'registry' | 'jetstream'>> => {
    const ping: SiteRequest = { haloGuid: PROBE_GUID };
    const [registry, kv] = await Promise.all([
      requestRegistry(nc, subjects.registry('site'), ping, SiteResult, timeoutMs).then(ok, unavailable),
      bindBucket(js, BUCKETS.sites).then((bucket) => bucket.status()).then(ok, unavailable),
    ]);
    return { registry, jetstream: kv };
  };
  let last: { at: number; probes: Promise<Pick<HealthReport, 'registry' | 'jetstream'>> } | null = null;
  return async () => {
    const nats = options.nats();
    if (nats !== 'connected') {
      last = null;
      return { nats, registry: 'unavailable', jetstream: 'unavailable' };
    }
    if (!last || now() - last.at >= cacheMs) last = { at: now(), probes: probe() };
    return { nats, ...(await last.probes) };
  };
}
