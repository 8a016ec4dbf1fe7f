import { observedCounter, observedGauge, type Registry } from '@halo/metrics';
import type { NatsSiteDirectory } from './site-directory.ts';
import type { FacadeReplicas } from './facade-replicas.ts';

/** The facade's series beyond HTTP ones: site directory reads and cache, and the replicas sharing rate limits. */
export function recordFacadeMetrics(registry: Registry, from: { directory: NatsSiteDirectory; replicas: FacadeReplicas }): void {
  const { stats } = from.directory;
  observedCounter(registry, {
    name: 'halo_site_directory_cache_total',
    help: 'Site reads by Halo GUID answered from this facade\'s cache (hit) or not (miss)',
    labelNames: ['result'],
    read: () => [[{ result: 'hit' }, stats.cacheHits], [{ result: 'miss' }, stats.cacheMisses]],
  });
  observedCounter(registry, {
    name: 'halo_registry_lookups_total',
    help: 'Site directory reads that reached the registry, by source that answered (registry, buckets when no registry answered) or failed',
    labelNames: ['source'],
    read: () => Object.entries(stats.reads).map(([source, n]) => [{ source }, n] as const),
  });
  observedGauge(registry, {
    name: 'halo_facade_replicas',
    help: 'Facade replicas this one sees (each enforces 1/N of every rate limit)',
    read: () => [[{}, from.replicas.count()]],
  });
}
