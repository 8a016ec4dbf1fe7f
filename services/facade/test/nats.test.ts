import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { LookupRequest, QueryHeaders, QueryRequest, QueryResponse, SiteRequest, SitesResponse, subjects, type SiteView } from '@halo/contracts';
import { createLogger } from '@halo/log';
import { connectNats, decodeJson, encodeJson, serveJson, type NatsConnection } from '@halo/messaging';
import { launchHub } from '@halo/testkit';
import { NatsQueryClient, RegistryDirectory, startFacade } from '../src/index.ts';
import { LINK_ID, RESULT, SITE_ID, siteView } from './fakes.ts';

const log = createLogger({ name: 'facade-nats-test', level: 'silent' });
const REQUESTER = 'req0123456789abcdef';

async function natsPair(t: TestContext): Promise<{ client: NatsConnection; service: NatsConnection }> {
  const hub = await launchHub();
  t.after(() => hub.close());
  const client = await connectNats({ servers: hub.clientUrl, name: 'facade', log });
  t.after(() => client.close());
  const service = await connectNats({ servers: hub.clientUrl, name: 'services', log });
  t.after(() => service.close());
  return { client, service };
}

/** A registry stand-in serving `site` and `lookup` from a list, counting requests. */
function fakeRegistry(nc: NatsConnection, sites: SiteView[], delayMs = 0): { siteRequests: number } {
  const counts = { siteRequests: 0 };
  serveJson(nc, {
    subject: subjects.registry('site'), schema: SiteRequest, log,
    handler: async ({ haloGuid }) => {
      counts.siteRequests++;
      if (delayMs) await sleep(delayMs);
      return { site: sites.find((s) => s.haloGuid === haloGuid) ?? null };
    },
  });
  serveJson(nc, {
    subject: subjects.registry('lookup'), schema: LookupRequest, log,
    handler: async ({ pmsId, pmsType }) => ({ sites: sites.filter((s) => s.pmsId === pmsId && (!pmsType || s.pmsType === pmsType)) }),
  });
  return counts;
}

/** An agent stand-in: checks the request and answers on its explicit reply subject. */
function fakeAgent(nc: NatsConnection, answer: (request: QueryRequest) => unknown): { seen: { request: QueryRequest; reply: string | undefined; headers: Record<string, string | undefined> }[] } {
  const seen: { request: QueryRequest; reply: string | undefined; headers: Record<string, string | undefined> }[] = [];
  nc.subscribe(subjects.query(LINK_ID, SITE_ID), {
    callback: (_err, msg) => {
      const request = decodeJson(QueryRequest, msg.data);
      seen.push({ request, reply: msg.reply, headers: { queryId: msg.headers?.get(QueryHeaders.queryId), deadline: msg.headers?.get(QueryHeaders.deadline) } });
      const body = answer(request);
      if (body !== undefined) msg.respond(encodeJson(body));
    },
  });
  return { seen };
}

const execution = (deadlineInMs: number) => ({
  queryId: '55555555-5555-4555-8555-555555555555',
  command: { text: 'SELECT 1', type: 'text' as const, executionMode: 'reader' as const, parameters: [] },
  maxTimeInQueueMs: 1000,
  deadline: Date.now() + deadlineInMs,
});

test('RegistryDirectory caches sites per GUID for the TTL, shares concurrent misses, and maps outages to 503', async (t) => {
  const { client, service } = await natsPair(t);
  let now = 1_000_000;
  const directory = new RegistryDirectory({ nc: client, cacheTtlMs: 2000, timeoutMs: 500, now: () => now });
  await assert.rejects(directory.get(SITE_ID), { code: 'registry_unavailable' });

  const registry = fakeRegistry(service, [siteView()]);
  await service.flush();
  const [a, b] = await Promise.all([directory.get(SITE_ID), directory.get(SITE_ID)]);
  assert.equal(a?.haloGuid, SITE_ID);
  assert.equal(b, a);
  assert.equal(registry.siteRequests, 1);
  now += 1999;
  await directory.get(SITE_ID);
  assert.equal(registry.siteRequests, 1);
  now += 2;
  await directory.get(SITE_ID);
  assert.equal(registry.siteRequests, 2);
  directory.invalidate(SITE_ID);
  await directory.get(SITE_ID);
  assert.equal(registry.siteRequests, 3);

  // Unknown sites are not cached: a site registered a moment later is found at once.
  const unknown = '66666666-6666-4666-8666-666666666666';
  assert.equal(await directory.get(unknown), null);
  assert.equal(await directory.get(unknown), null);
  assert.equal(registry.siteRequests, 5);

  assert.deepEqual((await directory.lookup({ pmsId: 'PRAC-1', pmsType: 'sample' })).map((s) => s.haloGuid), [SITE_ID]);
  assert.deepEqual(await directory.lookup({ pmsId: 'PRAC-1', pmsType: 'bp' }), []);
});

test('RegistryDirectory: a registry slower than the timeout is registry_unavailable, not a 504', async (t) => {
  const { client, service } = await natsPair(t);
  fakeRegistry(service, [siteView()], 1000);
  await service.flush();
  const directory = new RegistryDirectory({ nc: client, timeoutMs: 200 });
  await assert.rejects(directory.get(SITE_ID), { code: 'registry_unavailable', message: 'registry did not answer in time' });
});

test('NatsQueryClient sends the QueryRequest to the site subject with an explicit reply subject', async (t) => {
  const { client, service } = await natsPair(t);
  const agent = fakeAgent(service, () => ({ ok: true, result: RESULT }));
  await service.flush();
  const queries = new NatsQueryClient({ nc: client, requesterId: REQUESTER });
  const request = { ...execution(5000), catalogue: 'main' };
  const result = await queries.execute(siteView(), request, new AbortController().signal);
  assert.deepEqual(result, RESULT);
  const [seen] = agent.seen;
  assert.ok(seen);
  assert.equal(seen.reply, subjects.reply(LINK_ID, REQUESTER, request.queryId));
  assert.deepEqual(seen.request, { queryId: request.queryId, haloGuid: SITE_ID, mode: 'immediate', catalogue: 'main', command: request.command, deadline: request.deadline, maxTimeInQueueMs: 1000 });
  assert.deepEqual(seen.headers, { queryId: request.queryId, deadline: String(request.deadline) });
  assert.throws(() => new NatsQueryClient({ nc: client, requesterId: 'has.dot' }));
});

test('NatsQueryClient: agent errors keep their codes; no agent is site_offline; silence is deadline_exceeded; abort stops waiting', async (t) => {
  const { client, service } = await natsPair(t);
  const queries = new NatsQueryClient({ nc: client, requesterId: REQUESTER });
  const never = new AbortController().signal;
  await assert.rejects(queries.execute(siteView(), execution(2000), never), { code: 'site_offline', message: 'the site is offline' });
  await assert.rejects(queries.execute(siteView(), execution(-1), never), { code: 'deadline_exceeded' });

  let mode: 'error' | 'silent' | 'garbage' = 'error';
  fakeAgent(service, () => (mode === 'error' ? { ok: false, error: { code: 'query_failed', message: 'bad SQL' } } : mode === 'garbage' ? { ok: true, result: { rows: 'x' } } : undefined));
  await service.flush();
  await assert.rejects(queries.execute(siteView(), execution(2000), never), { code: 'query_failed', message: 'bad SQL' });
  mode = 'garbage';
  await assert.rejects(queries.execute(siteView(), execution(2000), never), { code: 'internal' });
  mode = 'silent';
  const started = Date.now();
  await assert.rejects(queries.execute(siteView(), execution(300), never), { code: 'deadline_exceeded' });
  assert.ok(Date.now() - started < 2000);

  const controller = new AbortController();
  const pending = queries.execute(siteView(), execution(10_000), controller.signal);
  setTimeout(() => controller.abort(), 50);
  const abortedAt = Date.now();
  await assert.rejects(pending, { name: 'AbortError' });
  assert.ok(Date.now() - abortedAt < 1000);
});

test('startFacade serves the real thing over NATS on a real port', async (t) => {
  const { client, service } = await natsPair(t);
  fakeRegistry(service, [siteView()]);
  fakeAgent(service, () => ({ ok: true, result: RESULT }));
  await service.flush();
  const facade = await startFacade({ nc: client, port: 0, host: '127.0.0.1', keys: [{ integratorId: 'acme', key: 'k1' }], log });
  t.after(() => facade.close());
  assert.match(facade.url, /^http:\/\/127\.0\.0\.1:\d+$/);

  const health = await fetch(`${facade.url}/health`);
  assert.equal(health.status, 200);
  assert.equal(((await health.json()) as { nats: string }).nats, 'connected');

  const headers = { 'ocp-apim-subscription-key': 'k1', 'content-type': 'application/json' };
  const sites = SitesResponse.parse(await (await fetch(`${facade.url}/integrator/sites?practiceManagementSiteId=PRAC-1&practiceManagementName=Sample%20Dental`, { headers })).json());
  assert.deepEqual(sites.sites.map((s) => s.id), [SITE_ID]);

  const res = await fetch(`${facade.url}/integrator/sites/${SITE_ID}/queries/immediate`, { method: 'POST', headers, body: JSON.stringify({ command: { text: 'SELECT 1' } }) });
  assert.equal(res.status, 200);
  assert.deepEqual(QueryResponse.parse(await res.json()).result.records, [{ id: 1, name: 'Ann' }, { id: 2, name: null }]);

  const unauthorized = await fetch(`${facade.url}/integrator/sites?practiceManagementSiteId=PRAC-1`);
  assert.equal(unauthorized.status, 401);
});
