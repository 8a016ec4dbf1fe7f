import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { LookupRequest, SiteRequest, SitesResponse, subjects, type SiteView } from '@halo/contracts';
import { createLogger } from '@halo/log';
import { connectNats, serveJson, type NatsConnection } from '@halo/messaging';
import { RegistryStore } from '@halo/registry-data';
import { launchHub } from '@halo/testkit';
import { NatsSiteDirectory, startFacade } from '../src/index.ts';
import { KEY, SITE_ID, siteView } from './fakes.ts';

const log = createLogger({ name: 'facade-nats-test', level: 'silent' });

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

test('NatsSiteDirectory caches sites per GUID for the TTL, shares concurrent misses, and maps outages to 503', async (t) => {
  const { client, service } = await natsPair(t);
  let now = 1_000_000;
  const directory = new NatsSiteDirectory({ nc: client, cacheTtlMs: 2000, timeoutMs: 500, now: () => now });
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

test('NatsSiteDirectory: a registry slower than the timeout is registry_unavailable, not a 504', async (t) => {
  const { client, service } = await natsPair(t);
  fakeRegistry(service, [siteView()], 1000);
  await service.flush();
  const directory = new NatsSiteDirectory({ nc: client, timeoutMs: 200 });
  await assert.rejects(directory.get(SITE_ID), { code: 'registry_unavailable', message: 'registry did not answer in time' });
});

test('NatsSiteDirectory: with the registry hung, one read waits out the timeout, then reads go to its buckets for a while', async (t) => {
  const { client, service } = await natsPair(t);
  // The registry's buckets as a registry replica left them: one authoritative site.
  const store = await RegistryStore.open(service, 1);
  const { haloGuid: _guid, authoritative: _authoritative, availability: _availability, ...record } = siteView();
  await store.putSite(SITE_ID, record);
  assert.equal(await store.claimPractice('sample', 'PRAC-1', SITE_ID), true);
  const hung = fakeRegistry(service, [], 1000);
  await service.flush();
  const directory = new NatsSiteDirectory({ nc: client, cacheTtlMs: 0, timeoutMs: 200, registryRetryMs: 60_000 });

  const site = await directory.get(SITE_ID);
  assert.deepEqual([site?.haloGuid, site?.authoritative, site?.status, site?.availability], [SITE_ID, true, 'active', 'unreachable']);
  assert.equal(hung.siteRequests, 1);
  // The buckets go first now: no second timeout, and lookups and unknown sites are answered from them too.
  assert.equal((await directory.get(SITE_ID))?.haloGuid, SITE_ID);
  assert.deepEqual((await directory.lookup({ pmsId: 'PRAC-1' })).map((s) => [s.haloGuid, s.authoritative]), [[SITE_ID, true]]);
  assert.equal(await directory.get('66666666-6666-4666-8666-666666666666'), null);
  assert.equal(hung.siteRequests, 1);
});

test('startFacade serves the real thing over NATS on a real port', async (t) => {
  const { client, service } = await natsPair(t);
  fakeRegistry(service, [siteView()]);
  await service.flush();
  const facade = await startFacade({ requirePairing: false, nc: client, port: 0, host: '127.0.0.1', keys: [{ integratorId: 'acme', key: KEY }], log });
  t.after(() => facade.close());
  assert.match(facade.url, /^http:\/\/127\.0\.0\.1:\d+$/);

  const health = await fetch(`${facade.url}/health`);
  assert.equal(health.status, 200);
  assert.equal(((await health.json()) as { nats: string }).nats, 'connected');

  const headers = { 'ocp-apim-subscription-key': KEY, 'content-type': 'application/json' };
  const sites = SitesResponse.parse(await (await fetch(`${facade.url}/integrator/sites?practiceManagementSiteId=PRAC-1&practiceManagementName=Sample%20Dental`, { headers })).json());
  assert.deepEqual(sites.sites.map((s) => s.id), [SITE_ID]);

  // Queries through real agents are covered end to end in test/e2e.
  const res = await fetch(`${facade.url}/integrator/sites/${SITE_ID}/queries/immediate`, { method: 'POST', headers, body: JSON.stringify({ command: { text: 'SELECT 1' } }) });
  assert.equal(res.status, 503);

  const unauthorized = await fetch(`${facade.url}/integrator/sites?practiceManagementSiteId=PRAC-1`);
  assert.equal(unauthorized.status, 401);
});

/** What a facade holds on its connection: subscriptions and status listeners (nats.js internals, for leak checks). */
function held(nc: NatsConnection): { subscriptions: number; statusListeners: number } {
  const protocol = (nc as any).protocol;
  return { subscriptions: protocol.subscriptions.size(), statusListeners: protocol.listeners.length };
}

test('a start that fails (missing certificate) and a close both leave nothing open on the connection', async (t) => {
  const { client } = await natsPair(t);
  const before = held(client);
  await assert.rejects(startFacade({
    nc: client, port: 0, host: '127.0.0.1', keys: [{ integratorId: 'i1', key: KEY }], log,
    https: { certFile: '/nonexistent/cert.pem', keyFile: '/nonexistent/key.pem' },
  }), /ENOENT/);
  assert.deepEqual(held(client), before, 'the failed start left subscriptions or listeners behind');

  // A running facade subscribes (replies, cancels, the KV watch); once closed, a second start and close must hold
  // no more than the first left (nats.js keeps its own request inbox and a status listener after first use).
  const cycle = async () => {
    const facade = await startFacade({ requirePairing: false, nc: client, port: 0, host: '127.0.0.1', keys: [{ integratorId: 'i1', key: KEY }], log });
    assert.ok(held(client).subscriptions > before.subscriptions + 1);
    await facade.close();
    await sleep(50);
    return held(client);
  };
  const first = await cycle();
  assert.deepEqual(await cycle(), first, 'close() left subscriptions or status listeners behind');
});

test('a registry watch that fails on its second bucket does not leak the first one on every retry', async (t) => {
  const { client, service } = await natsPair(t);
  const { Kvm } = await import('@nats-io/kv');
  const { jetstreamManager, AckPolicy } = await import('@nats-io/jetstream');
  await new Kvm(service).create('sites');
  const jsm = await jetstreamManager(service);
  // A practices bucket that can take no more consumers: every watch of it fails, every time.
  await jsm.streams.add({
    name: 'KV_practices', subjects: ['$KV.practices.>'], max_consumers: 1, max_msgs_per_subject: 1,
    allow_rollup_hdrs: true, deny_delete: true, allow_direct: true,
  });
  await jsm.consumers.add('KV_practices', { durable_name: 'taken', ack_policy: AckPolicy.Explicit });
  const directory = new NatsSiteDirectory({ nc: client, log, watchRetryMs: 50 });
  t.after(() => directory.close());
  await directory.watch();
  await sleep(1_500);
  // Each retry opened a sites watch (a subscription on this connection); a stopped one unsubscribes.
  const { subscriptions } = held(client);
  assert.ok(subscriptions <= 3, `${subscriptions} subscriptions after ~25 failed watch attempts`);
});
