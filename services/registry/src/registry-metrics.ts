import { isAppError, type Availability, type LinkMetrics } from '@halo/contracts';
import { observedCounter, observedGauge, perScrape, registerJetStreamMetrics, type Registry, type Sample } from '@halo/metrics';
import type { NatsConnection } from '@halo/messaging';
import { BUCKETS, type RegistryStore, type RegistryViews } from '@halo/registry-data';

/** Requests this replica answered, by verb and outcome (`ok` or the error code), and heartbeats it recorded. */
export class RegistryCounts {
  readonly #requests = new Map<string, number>();
  heartbeats = 0;
  heartbeatsDropped = 0;

  /** `handler`, counted under `verb`. */
  counted<A extends unknown[], R>(verb: string, handler: (...args: A) => Promise<R>): (...args: A) => Promise<R> {
    return async (...args: A) => {
      try {
        const result = await handler(...args);
        this.#add(verb, 'ok');
        return result;
      } catch (err) {
        this.#add(verb, isAppError(err) ? err.code : 'internal');
        throw err;
      }
    };
  }

  samples(): Sample[] {
    return [...this.#requests].map(([key, n]) => {
      const [verb, outcome] = key.split(' ') as [string, string];
      return [{ verb, outcome }, n] as const;
    });
  }

  #add(verb: string, outcome: string): void {
    const key = `${verb} ${outcome}`;
    this.#requests.set(key, (this.#requests.get(key) ?? 0) + 1);
  }
}

/**
 * The registry's series. Link series are read from the `links` bucket at scrape time, so every replica reports
 * the same values (heartbeats reach one replica each): availability, sites served, and the counts each Halo Link
 * sent in its last heartbeat (a practice has no port to scrape). Labels are Link GUIDs, never PMS IDs or query data.
 * Plus the JetStream state of the registry's buckets.
 */
export function recordRegistryMetrics(registry: Registry, from: { nc: NatsConnection; counts: RegistryCounts; store: RegistryStore; views: RegistryViews }): void {
  const { counts, store, views } = from;
  // The registry's buckets: their replicas' lag says whether JetStream keeps up.
  registerJetStreamMetrics(registry, from.nc, { streams: Object.values(BUCKETS).map((bucket) => `KV_${bucket}`) });
  observedCounter(registry, {
    name: 'halo_registry_requests_total', help: 'Registry requests answered by this replica, by verb and outcome (ok or the error code)',
    labelNames: ['verb', 'outcome'], read: () => counts.samples(),
  });
  observedCounter(registry, {
    name: 'halo_registry_heartbeats_total', help: 'Heartbeats this replica recorded (ok) or dropped',
    labelNames: ['outcome'], read: () => [[{ outcome: 'ok' }, counts.heartbeats], [{ outcome: 'dropped' }, counts.heartbeatsDropped]],
  });

  // One read of the bucket per scrape, shared by the link series below.
  const links = perScrape(() => readLinks(store, views));
  observedGauge(registry, {
    name: 'halo_links', help: 'Halo Links (not uninstalled) by availability', labelNames: ['availability'],
    read: async () => {
      const byAvailability: Record<Availability, number> = { online: 0, offline: 0, unreachable: 0 };
      for (const link of await links()) byAvailability[link.availability]++;
      return Object.entries(byAvailability).map(([availability, n]) => [{ availability }, n] as const);
    },
  });
  observedGauge(registry, {
    name: 'halo_link_up', help: 'Whether a Halo Link is online (1: heard from within the online window) or not (0)', labelNames: ['link_guid'],
    read: async () => (await links()).map((l) => [{ link_guid: l.linkGuid }, l.availability === 'online' ? 1 : 0] as const),
  });
  observedGauge(registry, {
    name: 'halo_link_sites', help: 'Sites a Halo Link serves', labelNames: ['link_guid'],
    read: async () => (await links()).map((l) => [{ link_guid: l.linkGuid }, l.sites] as const),
  });
  observedGauge(registry, {
    name: 'halo_link_queries_in_flight', help: 'Queries running or queued at a Halo Link, at its last heartbeat', labelNames: ['link_guid'],
    read: async () => (await links()).flatMap((l) => (l.metrics ? [[{ link_guid: l.linkGuid }, l.metrics.inFlight] as const] : [])),
  });
  observedCounter(registry, {
    name: 'halo_link_queries_total', help: 'Queries a Halo Link answered (served) or not (failed) since it started, at its last heartbeat', labelNames: ['link_guid', 'outcome'],
    read: async () => (await links()).flatMap((l) => (l.metrics ? [
      [{ link_guid: l.linkGuid, outcome: 'served' }, l.metrics.queriesServed] as const,
      [{ link_guid: l.linkGuid, outcome: 'failed' }, l.metrics.queriesFailed] as const,
    ] : [])),
  });
  observedCounter(registry, {
    name: 'halo_link_sent_bytes_total', help: 'Result bytes a Halo Link sent since it started, at its last heartbeat', labelNames: ['link_guid'],
    read: async () => (await links()).flatMap((l) => (l.metrics ? [[{ link_guid: l.linkGuid }, l.metrics.bytesSent] as const] : [])),
  });
}

interface LinkSample {
  linkGuid: string;
  availability: Availability;
  sites: number;
  metrics: LinkMetrics | undefined;
}

async function readLinks(store: RegistryStore, views: RegistryViews): Promise<LinkSample[]> {
  const all = await Promise.all((await store.linkGuids()).map((g) => views.link(g)));
  return all.flatMap((l) => (l === null || l.uninstalledAt !== undefined ? [] : [{
    linkGuid: l.linkGuid, availability: l.availability, sites: l.sites.length, metrics: l.metrics,
  }]));
}
