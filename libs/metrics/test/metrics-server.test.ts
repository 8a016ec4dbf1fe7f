import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { createLogger } from '@halo/log';
import { observedCounter, observedGauge, perScrape, startServiceMetrics } from '../src/index.ts';

function capture() {
  const lines: Array<Record<string, unknown>> = [];
  const destination = new Writable({ write(chunk: Buffer, _e, done) { lines.push(JSON.parse(chunk.toString('utf8')) as Record<string, unknown>); done(); } });
  return { lines, log: createLogger({ name: 'test', level: 'info', destination }) };
}

test('the listener logs its port, serves /metrics with a service label, and probes follow readiness and drain', async (t) => {
  const { lines, log } = capture();
  const metrics = await startServiceMetrics({ service: 'worker', log, port: 0, probes: true });
  t.after(() => metrics.close());
  assert.ok(metrics.server);
  assert.deepEqual(lines.find((l) => l.msg === 'metrics listening')?.port, metrics.server.port);
  const get = (path: string, init?: RequestInit) => fetch(`${metrics.server!.url}${path}`, init);

  const counts = { done: 2 };
  observedCounter(metrics.registry, { name: 'test_done_total', help: 'done', read: () => [[{}, counts.done]] });
  counts.done = 5;
  const scrape = await (await get('/metrics')).text();
  assert.match(scrape, /^test_done_total\{service="worker"\} 5$/m);
  assert.match(scrape, /^process_resident_memory_bytes\{service="worker"\} \d+/m);

  assert.equal((await get('/health/live')).status, 200);
  const starting = await get('/health/ready');
  assert.equal(starting.status, 503);
  assert.match(((await starting.json()) as { error: { message: string } }).error.message, /starting/);
  let down: string | null = null;
  metrics.setReadiness(() => down);
  assert.equal((await get('/health/ready')).status, 200);
  down = 'NATS is disconnected';
  assert.equal((await get('/health/ready')).status, 503);
  down = null;
  metrics.drain();
  const draining = await get('/health/ready');
  assert.equal(draining.status, 503);
  assert.equal(((await draining.json()) as { error: { code: string } }).error.code, 'service_unavailable');
  assert.equal((await get('/health/live')).status, 200);
  assert.equal((await get('/metrics', { method: 'POST' })).status, 405);
  assert.equal((await get('/elsewhere')).status, 404);
});

test('without probes only /metrics is served; without a port nothing listens but series are kept', async (t) => {
  const { log } = capture();
  const metrics = await startServiceMetrics({ service: 'facade', log, port: 0 });
  t.after(() => metrics.close());
  assert.equal((await fetch(`${metrics.server!.url}/health/ready`)).status, 404);
  const off = await startServiceMetrics({ service: 'facade', log, port: undefined });
  assert.equal(off.server, undefined);
  observedGauge(off.registry, { name: 'test_level', help: 'level', read: () => [[{}, 3]] });
  assert.match(await off.registry.metrics(), /^test_level\{service="facade"\} 3$/m);
  await off.close();
});

test('perScrape: the series of one scrape share one read; the next scrape reads again', async () => {
  const { log } = capture();
  const metrics = await startServiceMetrics({ service: 'registry', log, port: undefined });
  let reads = 0;
  const snapshot = perScrape(async () => ++reads);
  for (const name of ['test_a', 'test_b', 'test_c']) observedGauge(metrics.registry, { name, help: name, read: async () => [[{}, await snapshot()]] });
  const first = await metrics.registry.metrics();
  assert.equal(reads, 1);
  assert.match(first, /^test_c\{service="registry"\} 1$/m);
  await new Promise((resolve) => setImmediate(resolve));
  assert.match(await metrics.registry.metrics(), /^test_a\{service="registry"\} 2$/m);
  assert.equal(reads, 2);
});
