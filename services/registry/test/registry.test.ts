import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { LookupResult, RegisterResult, SiteResult, subjects, type RegisterRequest } from '@halo/contracts';
import { createLogger } from '@halo/log';
import { connectNats, requestJson, type NatsConnection } from '@halo/messaging';
import { cleanupStack, launchHub } from '@halo/testkit';
import { startRegistry } from '@halo/registry';
import { availabilityOf } from '@halo/registry-data';

const log = createLogger({ name: 'test', level: 'silent' });
const opts = { timeoutMs: 10_000, noResponders: 'registry_unavailable' } as const;

/** Registers as the link the request names: on that link's own subject. */
const register = (client: NatsConnection, request: { linkGuid: string } & Record<string, unknown>) =>
  requestJson(client, subjects.linkRegistry('register', request.linkGuid), request, RegisterResult, opts);

function registration(pmsId: string, linkGuid: string = randomUUID(), haloGuid: string = randomUUID()): RegisterRequest {
  return {
    linkGuid,
    env: 'production',
    version: 'test',
    sites: [{ haloGuid, pmsType: 'sample', pmsId, practiceName: 'Practice', databaseIdentity: `sqlite:/${haloGuid}.db`, catalogues: [{ name: 'main', isDefault: true }] }],
  };
}

async function setup(t: import('node:test').TestContext, replicas = 1) {
  const defer = cleanupStack(t);
  const hub = await launchHub();
  defer(() => hub.close());
  const conns: NatsConnection[] = [];
  for (let i = 0; i < replicas; i++) {
    const nc = await connectNats({ servers: hub.clientUrl, name: `registry-${i}`, log });
    defer(() => nc.close());
    const registry = await startRegistry({ nc, log, env: 'production' });
    defer(() => registry.close());
    conns.push(nc);
  }
  const client = await connectNats({ servers: hub.clientUrl, name: 'client', log });
  defer(() => client.close());
  return { hub, client };
}

test('the first site for a PMS ID is authoritative, the second is not, and lookups say so', async (t) => {
  const { client } = await setup(t);
  const first = registration('PMS-1');
  const second = registration('PMS-1');
  const r1 = await register(client, first);
  const r2 = await register(client, second);
  assert.equal(r1.sites[0]?.authoritative, true);
  assert.equal(r2.sites[0]?.authoritative, false);
  // Registering again (an agent restart) keeps authority where it is.
  const again = await register(client, first);
  assert.equal(again.sites[0]?.authoritative, true);

  const found = await requestJson(client, subjects.registry('lookup'), { pmsId: 'PMS-1' }, LookupResult, opts);
  assert.equal(found.sites.length, 2);
  assert.deepEqual(found.sites.map((s) => [s.haloGuid, s.authoritative]), [[first.sites[0]!.haloGuid, true], [second.sites[0]!.haloGuid, false]]);
  assert.equal(found.sites[0]?.availability, 'online');
  assert.equal(found.sites[0]?.status, 'active');
  const none = await requestJson(client, subjects.registry('lookup'), { pmsId: 'PMS-1', pmsType: 'bp' }, LookupResult, opts);
  assert.equal(none.sites.length, 0);
  const other = await requestJson(client, subjects.registry('lookup'), { pmsId: 'PMS-2' }, LookupResult, opts);
  assert.equal(other.sites.length, 0);

  const one = await requestJson(client, subjects.registry('site'), { haloGuid: second.sites[0]!.haloGuid }, SiteResult, opts);
  assert.equal(one.site?.linkGuid, second.linkGuid);
  assert.equal(one.site?.authoritative, false);
  const missing = await requestJson(client, subjects.registry('site'), { haloGuid: randomUUID() }, SiteResult, opts);
  assert.equal(missing.site, null);
});

test('PMS IDs with dots, spaces and wildcards are kept apart', async (t) => {
  const { client } = await setup(t);
  for (const pmsId of ['a.b', 'a b', '*', '>', 'a.*']) {
    const r = await register(client, registration(pmsId));
    assert.equal(r.sites[0]?.authoritative, true, pmsId);
  }
  const found = await requestJson(client, subjects.registry('lookup'), { pmsId: '*' }, LookupResult, opts);
  assert.deepEqual(found.sites.map((s) => s.pmsId), ['*']);
});

test('bad registrations get coded errors', async (t) => {
  const { client } = await setup(t);
  await assert.rejects(register(client, { linkGuid: 'nope' }), { code: 'bad_request' });
  await assert.rejects(register(client, { ...registration('X'), env: 'staging' }), { code: 'bad_request' });
  const taken = registration('Y');
  await register(client, taken);
  const stolen = registration('Y', randomUUID(), taken.sites[0]!.haloGuid);
  await assert.rejects(register(client, stolen), { code: 'bad_request' });
});

test('two links registering one new Halo GUID at once across two replicas: one gets it, the other is refused', async (t) => {
  const { client } = await setup(t, 2);
  for (let round = 0; round < 10; round++) {
    const haloGuid = randomUUID();
    const links = [randomUUID(), randomUUID()];
    const outcomes = await Promise.allSettled(links.map((linkGuid) => register(client, registration(`CLAIM-${round}`, linkGuid, haloGuid))));
    const won = outcomes.flatMap((o, i) => (o.status === 'fulfilled' ? [links[i]] : []));
    assert.equal(won.length, 1, `round ${round}: ${won.length} links registered the same Halo GUID`);
    const refused = outcomes.find((o) => o.status === 'rejected');
    assert.equal((refused as PromiseRejectedResult).reason.code, 'bad_request');
    const site = await requestJson(client, subjects.registry('site'), { haloGuid }, SiteResult, opts);
    assert.equal(site.site?.linkGuid, won[0], `round ${round}: the site names the refused link`);
  }
});

test('two registry replicas, 20 concurrent registrations of one PMS ID: exactly one authoritative', async (t) => {
  const { client } = await setup(t, 2);
  for (let round = 0; round < 5; round++) {
    const pmsId = `RACE-${round}`;
    const results = await Promise.all(
      Array.from({ length: 20 }, () => register(client, registration(pmsId))),
    );
    const winners = results.filter((r) => r.sites[0]?.authoritative);
    assert.equal(winners.length, 1, `round ${round}`);
    const found = await requestJson(client, subjects.registry('lookup'), { pmsId }, LookupResult, opts);
    assert.equal(found.sites.length, 20);
    assert.equal(found.sites.filter((s) => s.authoritative).length, 1);
    assert.equal(found.sites[0]?.haloGuid, winners[0]?.sites[0]?.haloGuid);
  }
});

test('availability follows when a link was last heard from', () => {
  const now = Date.parse('2026-01-01T00:10:00Z');
  assert.equal(availabilityOf('2026-01-01T00:09:45Z', now), 'online');
  assert.equal(availabilityOf('2026-01-01T00:09:00Z', now), 'offline');
  assert.equal(availabilityOf('2026-01-01T00:07:00Z', now), 'unreachable');
  assert.equal(availabilityOf(undefined, now), 'unreachable');
});
