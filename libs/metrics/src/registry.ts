import { collectDefaultMetrics, Registry } from 'prom-client';

/**
 * A fresh Prometheus registry for one service, with the process metrics (CPU, memory, event-loop lag, GC) and a
 * `service` label on every series. One per service instance rather than prom-client's global one, so services
 * started side by side in one process (tests, the demo) keep their series apart.
 */
export function createMetricsRegistry(service: string): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ service });
  collectDefaultMetrics({ register: registry });
  return registry;
}
