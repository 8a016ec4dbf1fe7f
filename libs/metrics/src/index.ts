export { createMetricsRegistry } from './registry.ts';
export { startMetricsServer, type MetricsServer, type MetricsServerOptions, type Readiness } from './metrics-server.ts';
export { natsReadiness, type NatsReadiness } from './nats-readiness.ts';
export { registerHubMonitor, type HubMonitorOptions } from './hub-monitor.ts';
export { Counter, Gauge, Histogram, Registry } from 'prom-client';
export { observedCounter, observedGauge, perScrape, type ObservedMetric, type Sample } from './observed.ts';
export { startServiceMetrics, type ServiceMetrics, type ServiceMetricsOptions } from './service-metrics.ts';
export { registerJetStreamMetrics, type JetStreamMetricsOptions } from './jetstream-metrics.ts';
