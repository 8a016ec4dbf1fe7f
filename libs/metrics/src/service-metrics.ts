import type { Registry } from 'prom-client';
import type { Logger } from '@halo/log';
import { createMetricsRegistry } from './registry.ts';
import { startMetricsServer, type MetricsServer, type Readiness } from './metrics-server.ts';

export interface ServiceMetricsOptions {
  /** The `service` label of every series: facade, registry, worker. */
  service: string;
  log: Logger;
  /** HALO_METRICS_PORT: undefined serves nothing (series are still recorded), 0 picks a free port. */
  port: number | undefined;
  /** HALO_METRICS_HOST; default 127.0.0.1. */
  host?: string;
  /** Serve `/health/live` and `/health/ready` too (registry, worker: services without an HTTP port of their own). */
  probes?: boolean;
}

/** A service's metrics: its registry, and its internal listener when HALO_METRICS_PORT is set. */
export interface ServiceMetrics {
  readonly registry: Registry;
  readonly server: MetricsServer | undefined;
  /** What `/health/ready` asks from now on; until the first call it answers 503 "starting". */
  setReadiness(readiness: Readiness): void;
  /** Not ready from now on (first step of a shutdown). */
  drain(): void;
  close(): Promise<void>;
}

/** What every `main.ts` opens first: the registry and, if configured, the listener, so probes answer while starting. */
export async function startServiceMetrics(options: ServiceMetricsOptions): Promise<ServiceMetrics> {
  const registry = createMetricsRegistry(options.service);
  let readiness: Readiness = () => 'it is starting';
  const server = options.port === undefined ? undefined : await startMetricsServer({
    registry, log: options.log, port: options.port,
    ...(options.host !== undefined ? { host: options.host } : {}),
    ...(options.probes ? { readiness: () => readiness() } : {}),
  });
  return {
    registry,
    server,
    setReadiness(next) {
      readiness = next;
    },
    drain() {
      server?.drain();
    },
    close: async () => server?.close(),
  };
}
