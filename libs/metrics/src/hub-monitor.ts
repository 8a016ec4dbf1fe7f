import type { Registry } from 'prom-client';
import { z } from 'zod';
import { observedGauge, perScrape, type Sample } from './observed.ts';

/** The part of nats-server's `/varz` read here. */
const Varz = z.object({ server_name: z.string(), connections: z.number().int().nonnegative(), leafnodes: z.number().int().nonnegative() });
/** The part of `/leafz` read here: one entry per leaf connection (a Halo Link's leaf node, or a demo's). */
const Leafz = z.object({ leafs: z.array(z.object({ account: z.string().optional() })).nullable().optional() });

export interface HubMonitorOptions {
  /** Monitoring base URLs of the hub nodes (HALO_HUB_MONITOR_URLS), e.g. `http://10.0.0.1:8222`. */
  urls: readonly string[];
  /** Per request; default 2000 ms (a scrape waits for the slowest node). */
  timeoutMs?: number;
}

/**
 * Leaf connections per hub node, read from each node's monitoring endpoints at scrape time: `halo_hub_up{url}`
 * (1 when the node answered), `halo_hub_leaf_connections{server_name, account}` (from `/leafz`) and
 * `halo_hub_client_connections{server_name}` (from `/varz`). nats-server's monitoring port is internal, like ours.
 */
export function registerHubMonitor(registry: Registry, options: HubMonitorOptions): void {
  const timeoutMs = options.timeoutMs ?? 2000;
  const get = async <S extends z.ZodType>(url: string, schema: S): Promise<z.infer<S>> => {
    const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    return schema.parse(await response.json());
  };
  const nodes = perScrape(() => Promise.all(options.urls.map(async (base) => {
    const url = base.replace(/\/+$/, '');
    try {
      const [varz, leafz] = await Promise.all([get(`${url}/varz`, Varz), get(`${url}/leafz`, Leafz)]);
      return { url, varz, leafs: leafz.leafs ?? [] };
    } catch {
      return { url, varz: null, leafs: [] };
    }
  })));
  observedGauge(registry, {
    name: 'halo_hub_up', help: 'Whether a hub node answered on its monitoring port (1) or not (0)', labelNames: ['url'],
    read: async () => (await nodes()).map((n): Sample => [{ url: n.url }, n.varz ? 1 : 0]),
  });
  observedGauge(registry, {
    name: 'halo_hub_client_connections', help: 'Client connections of a hub node (nats-server /varz)', labelNames: ['server_name'],
    read: async () => (await nodes()).flatMap((n): Sample[] => (n.varz ? [[{ server_name: n.varz.server_name }, n.varz.connections]] : [])),
  });
  observedGauge(registry, {
    name: 'halo_hub_leaf_connections', help: 'Leaf node connections (Halo Links) of a hub node, by account (nats-server /leafz)', labelNames: ['server_name', 'account'],
    read: async () => (await nodes()).flatMap((n): Sample[] => {
      if (!n.varz) return [];
      const byAccount = new Map<string, number>();
      for (const leaf of n.leafs) byAccount.set(leaf.account ?? '', (byAccount.get(leaf.account ?? '') ?? 0) + 1);
      if (byAccount.size === 0) return [[{ server_name: n.varz.server_name, account: '' }, 0]];
      return [...byAccount].map(([account, count]): Sample => [{ server_name: n.varz!.server_name, account }, count]);
    }),
  });
}
