// Metrics of every cloud service, scraped from the internal listeners `npm start` opens (HALO_METRICS_PORT=0, the
// ports read from each service's `{ port }` log line into demo.json), after real immediate and async queries:
// the series exist with their labels, and no query text, parameter or row value appears anywhere in a scrape.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent } from 'undici';
import { startDemo } from '@halo/demo';
import { eventually } from '../support/system.ts';
import { resultRows } from '../support/halo-result.ts';

/** Distinctive strings in the query text, a parameter and the rows: none may reach a scrape. */
const CANARY = { text: 'zqxTextCanary4471', parameter: 'zqxParamCanary8812', row: 'zqxRowCanary3307' };
const query = {
  command: {
    // The row canary is a literal of the text's; the parameter canary is compared, never returned.
    text: `SELECT '${CANARY.row}' AS ${CANARY.text}, AptNum FROM appointment WHERE ProcDescript <> @canary ORDER BY AptNum LIMIT 3`,
    executionMode: 'reader',
    parameters: [{ name: '@canary', type: 'NVarChar', value: CANARY.parameter }],
  },
};

/** `name{labels} value` lines of one metric, parsed. */
function series(scrape: string, name: string): Array<{ labels: Record<string, string>; value: number }> {
  return scrape.split('\n').flatMap((line) => {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) return [];
    const labels = Object.fromEntries([...(m[2] ?? '').matchAll(/([a-zA-Z_]+)="((?:[^"\\]|\\.)*)"/g)].map((l) => [l[1]!, l[2]!]));
    return [{ labels, value: Number(m[3]) }];
  });
}

test('every service serves /metrics on its internal port; link metrics come in heartbeats; no query data anywhere', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'halo-metrics-'));
  t.after(() => rmSync(dataDir, { recursive: true, force: true }));
  const demo = await startDemo({ dataDir, httpPort: 0, installNatsServer: false });
  t.after(() => demo.close());
  const dispatcher = new Agent({ connect: { ca: readFileSync(demo.caFile) } });
  t.after(() => dispatcher.close());
  const summary = JSON.parse(readFileSync(join(dataDir, 'demo.json'), 'utf8')) as { metrics: Record<string, string> };
  assert.deepEqual(Object.keys(summary.metrics).sort(), ['facade', 'hub', 'registry', 'worker']);
  for (const name of ['facade', 'registry', 'worker']) assert.match(summary.metrics[name]!, /^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
  const scrape = async (name: string) => {
    const res = await fetch(summary.metrics[name]!);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain/);
    return res.text();
  };
  const site = demo.sites.find((s) => s.authoritative && s.pmsId === 'SAMPLE-1001')!;
  const call = (path: string, init: RequestInit = {}) => fetch(`${demo.facadeUrl}${path}`, {
    ...init, dispatcher,
    headers: { 'content-type': 'application/json', 'ocp-apim-subscription-key': demo.subscriptionKey, ...init.headers },
  } as RequestInit);

  const immediate = await call(`/integrator/sites/${site.haloGuid}/queries/immediate`, { method: 'POST', body: JSON.stringify(query) });
  const answer = await immediate.text();
  assert.equal(immediate.status, 200, answer);
  assert.equal(resultRows(JSON.parse(answer))[0]![CANARY.text], CANARY.row, 'the canary row came back (so it passed through every service)');
  // A refused one too: its error code must be a label.
  assert.equal((await call(`/integrator/sites/${site.haloGuid}/queries/immediate`, { method: 'POST', body: '{"command":{}}' })).status, 400);
  const queued = await call(`/integrator/sites/${site.haloGuid}/queries/async`, { method: 'POST', body: JSON.stringify(query) });
  assert.equal(queued.status, 201, await queued.clone().text());
  const { id: queryId } = (await queued.json()) as { id: string };
  await eventually(async () => {
    const status = (await (await call(`/integrator/sites/${site.haloGuid}/queries/${queryId}`)).json()) as { status: string };
    return status.status === 'successful';
  }, 30_000);
  const page = await call(`/integrator/sites/${site.haloGuid}/queries/${queryId}/results/1`);
  assert.equal(resultRows(await page.json())[0]![CANARY.text], CANARY.row);

  // Agents report in heartbeats (every 10 s in the demo): the registry serves what the last one said.
  const registry = await eventually(async () => {
    const text = await scrape('registry');
    const served = series(text, 'halo_link_queries_total').filter((s) => s.labels.outcome === 'served');
    return served.some((s) => s.value >= 1) ? text : undefined;
  }, 30_000);
  const facade = await scrape('facade');
  const worker = await scrape('worker');

  await t.test('facade: requests by route template, status and code; latency; bytes; in flight; directory cache', () => {
    const requests = series(facade, 'halo_http_requests_total');
    const route = '/integrator/sites/:siteId/queries/immediate';
    const ok = requests.find((s) => s.labels.route === route && s.labels.status === '200');
    assert.ok(ok, `no 200 series for ${route}: ${JSON.stringify(requests.map((s) => s.labels))}`);
    assert.equal(ok.labels.service, 'facade');
    assert.equal(ok.labels.code, '');
    assert.ok(requests.some((s) => s.labels.route === route && s.labels.status === '400' && s.labels.code === 'bad_request'));
    assert.ok(requests.some((s) => s.labels.route === '/integrator/sites/:siteId/queries/async' && s.labels.status === '201'));
    assert.ok(series(facade, 'halo_http_request_duration_seconds_count').some((s) => s.labels.route === route && s.value >= 1));
    assert.ok(series(facade, 'halo_http_request_duration_seconds_bucket').some((s) => s.labels.le === '+Inf'));
    assert.ok(series(facade, 'halo_http_response_bytes_total').some((s) => s.labels.route === route && s.value > 0));
    assert.ok(series(facade, 'halo_http_requests_in_flight').every((s) => s.value >= 0));
    assert.ok(series(facade, 'halo_site_directory_cache_total').some((s) => s.labels.result === 'hit' && s.value >= 1));
    assert.ok(series(facade, 'halo_registry_lookups_total').some((s) => s.labels.source === 'registry' && s.value >= 1));
    assert.ok(series(facade, 'process_resident_memory_bytes').length === 1);
  });

  await t.test('worker: async queries ended, queue depth from the work consumer', () => {
    assert.ok(series(worker, 'halo_async_queries_ended_total').some((s) => s.labels.state === 'successful' && s.value >= 1));
    const pending = series(worker, 'halo_jetstream_consumer_pending').find((s) => s.labels.consumer === 'async-worker');
    assert.ok(pending, 'queue depth series');
    assert.equal(pending.value, 0);
    assert.ok(series(worker, 'halo_jetstream_info_up').every((s) => s.value === 1));
    assert.ok(series(worker, 'halo_async_result_bytes_total')[0]!.value > 0);
    // Webhook and registered query counters (console.test.ts sees them count real deliveries).
    assert.deepEqual(series(worker, 'halo_webhook_deliveries_total').map((s) => s.labels.outcome).sort(), ['delivered', 'dropped', 'retried']);
    assert.deepEqual(series(worker, 'halo_registered_ticks_total').map((s) => s.labels.outcome).sort(), ['failed', 'retried', 'run', 'skipped']);
  });

  await t.test('registry: requests by verb, links by availability, link counts from heartbeats, leafs per hub node', () => {
    assert.ok(series(registry, 'halo_registry_requests_total').some((s) => s.labels.verb === 'site' && s.labels.outcome === 'ok'));
    assert.ok(series(registry, 'halo_registry_heartbeats_total').some((s) => s.labels.outcome === 'ok' && s.value >= 1));
    // At least the demo's two links (a link record replaced by a restart under load stays online a little longer).
    assert.ok((series(registry, 'halo_links').find((s) => s.labels.availability === 'online')?.value ?? 0) >= 2);
    const linkGuid = demo.databases.find((d) => d.haloGuid === site.haloGuid)!.linkGuid;
    assert.equal(series(registry, 'halo_link_up').find((s) => s.labels.link_guid === linkGuid)?.value, 1);
    assert.ok(series(registry, 'halo_link_sent_bytes_total').some((s) => s.labels.link_guid === linkGuid && s.value > 0));
    assert.equal(series(registry, 'halo_hub_up')[0]?.value, 1);
    const leafs = series(registry, 'halo_hub_leaf_connections');
    assert.equal(leafs.reduce((n, s) => n + s.value, 0), 2, JSON.stringify(leafs));
    assert.ok(leafs.every((s) => s.labels.server_name === 'halo-demo-hub'));
    assert.ok(series(registry, 'halo_jetstream_stream_messages').some((s) => s.labels.stream === 'KV_sites' && s.value >= 3));
  });

  await t.test('the support API shows each link\'s heartbeat metrics', async () => {
    const res = await fetch(`${demo.facadeUrl}/support/practices`, { headers: { authorization: `Bearer ${demo.supportKey}` }, dispatcher } as RequestInit);
    assert.equal(res.status, 200);
    const body = (await res.json()) as { links: Array<{ metrics?: { queriesServed: number; bytesSent: number; inFlight: number } }> };
    assert.ok(body.links.some((l) => (l.metrics?.queriesServed ?? 0) >= 1 && (l.metrics?.bytesSent ?? 0) > 0), JSON.stringify(body.links));
  });

  await t.test('registry and worker answer /health/live and /health/ready on the same port', async () => {
    for (const name of ['registry', 'worker']) {
      const base = summary.metrics[name]!.replace(/\/metrics$/, '');
      assert.equal((await fetch(`${base}/health/live`)).status, 200);
      const ready = await fetch(`${base}/health/ready`);
      assert.equal(ready.status, 200, await ready.text());
    }
  });

  await t.test('no query text, parameter or row value in any scrape', async () => {
    const all = [facade, worker, registry, await scrape('registry'), await (await fetch(summary.metrics.hub!)).text()].join('\n');
    for (const [what, canary] of Object.entries(CANARY)) assert.ok(!all.includes(canary), `the ${what} canary is in a scrape`);
    assert.ok(!all.includes('SELECT') && !all.includes('appointment'), 'no SQL in a scrape');
  });
});
