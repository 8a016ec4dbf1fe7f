import { Counter, Gauge, type Registry } from 'prom-client';

/** One series of an observed metric: its labels and its current value. */
export type Sample = readonly [labels: Record<string, string>, value: number];

export interface ObservedMetric {
  name: string;
  help: string;
  labelNames?: readonly string[];
  /** Read at every scrape: the current value of each series (counters: totals since start, never decreasing). */
  read(): readonly Sample[] | Promise<readonly Sample[]>;
}

/**
 * A counter whose totals are kept elsewhere (a plain counts object owned by the code that counts), read at scrape
 * time: the counting code needs no Prometheus dependency and keeps its own counts testable.
 */
export function observedCounter(registry: Registry, metric: ObservedMetric): void {
  const counter: Counter = new Counter({
    name: metric.name, help: metric.help, labelNames: metric.labelNames ?? [], registers: [registry],
    async collect() {
      const samples = await metric.read();
      counter.reset();
      for (const [labels, value] of samples) counter.inc(labels, value);
    },
  });
}

/** A gauge read at scrape time (queue depth, connections); series absent from a read disappear. */
export function observedGauge(registry: Registry, metric: ObservedMetric): void {
  const gauge: Gauge = new Gauge({
    name: metric.name, help: metric.help, labelNames: metric.labelNames ?? [], registers: [registry],
    async collect() {
      const samples = await metric.read();
      gauge.reset();
      for (const [labels, value] of samples) gauge.set(labels, value);
    },
  });
}

/**
 * Shares one read among the metrics of a scrape: prom-client collects every metric of a scrape at once, so metrics
 * built from one remote answer (a stream's info, a hub node's `/varz`) call this and get the same promise.
 */
export function perScrape<T>(read: () => Promise<T>): () => Promise<T> {
  let pending: Promise<T> | null = null;
  return () => {
    pending ??= read().finally(() => setImmediate(() => { pending = null; }));
    return pending;
  };
}
