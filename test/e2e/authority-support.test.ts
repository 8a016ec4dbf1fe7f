// Authority as integrators and support see it, end to end: support moves authority over HTTP and every facade
// replica follows within 2 s (KV watch, not TTL); sites leaving the config or uninstalled keep their authority.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connectNats } from '@halo/messaging';
import { startFacade, type RunningFacade } from '@halo/facade';
import { eventually, startTestSystem, SUBSCRIPTION_KEY, type TestSystem } from '../support/system.ts';
import { resultRows } from '../support/halo-result.ts';

type Json = Record<string, any>;

const SUPPORT_KEY = 'support-key-0123456789abcdefghijklmnopqrstuvwxyz';
const COUNT = { command: { text: 'SELECT count(*) AS n FROM patient' } };

/** A facade replica on the system's hub with support keys and a long cache TTL (so only the KV watch can refresh it). */
async function replica(sys: TestSystem, name: string): Promise<RunningFacade> {
  const nc = await connectNats({ servers: sys.hub.clientUrl, name, log: sys.log });
  const facade = await startFacade({ requirePairing: false,
    nc, port: 0, host: '127.0.0.1', log: sys.log, cacheTtlMs: 60_000, async: false,
    keys: [{ integratorId: 'test', key: SUBSCRIPTION_KEY }],
    supportKeys: [{ supportUserId: 'alice', key: SUPPORT_KEY }],
  });
  return {
    url: facade.url,
    async close() {
      await facade.close();
      await nc.close();
    },
  };
}

async function query(facade: RunningFacade, siteId: string): Promise<Response> {
  return fetch(`${facade.url}/integrator/sites/${siteId}/queries/immediate`, {
    method: 'POST', body: JSON.stringify(COUNT), headers: { 'content-type': 'application/json', 'ocp-apim-subscription-key': SUBSCRIPTION_KEY },
  });
}

async function support(facade: RunningFacade, path: string, init: RequestInit & { key?: string } = {}): Promise<Response> {
  const { key = SUPPORT_KEY, ...rest } = init;
  const headers = new Headers(rest.headers);
  headers.set('authorization', `Bearer ${key}`);
  if (rest.body !== undefined) headers.set('content-type', 'application/json');
  return fetch(`${facade.url}/support${path}`, { ...rest, headers });
}

async function sites(sys: TestSystem, pmsId: string): Promise<Json[]> {
  return ((await (await sys.call(`/integrator/sites?practiceManagementSiteId=${pmsId}`)).json()) as Json).sites as Json[];
}

test('a support switch: the new site answers and the old one gets 403 within 2 s on every facade replica', async (t) => {
  const sys = await startTestSystem();
  t.after(() => sys.close());
  const r1 = await replica(sys, 'facade-r1');
  t.after(() => r1.close());
  const r2 = await replica(sys, 'facade-r2');
  t.after(() => r2.close());

  const a = sys.sampleDatabase('practice-a', 'PMS-AUTH-1', 'Harbourside Dental', 50);
  const link1 = await sys.startAgent('link-1', [{ name: 'a', engine: 'sqlite', path: a, profile: 'sample' }]);
  const link2 = await sys.startAgent('link-2', [{ name: 'a-copy', engine: 'sqlite', path: sys.copyDatabase(a, 'practice-a-copy'), profile: 'sample' }]);
  const original = link1.sites[0]!.haloGuid;
  const copy = link2.sites[0]!.haloGuid;

  // Both replicas have both sites cached (60 s TTL) before the switch.
  for (const r of [r1, r2]) {
    assert.equal((await query(r, original)).status, 200);
    const refused = await query(r, copy);
    assert.equal(refused.status, 403);
    assert.equal(((await refused.json()) as Json).error.code, 'site_not_authoritative');
  }

  await t.test('support credentials are not integrator keys, and a move needs a reason', async () => {
    assert.equal((await support(r1, '/practices', { key: SUBSCRIPTION_KEY })).status, 401);
    assert.equal((await fetch(`${r1.url}/support/practices`)).status, 401);
    const noReason = await support(r1, '/authority', { method: 'POST', body: JSON.stringify({ pmsType: 'sample', pmsId: 'PMS-AUTH-1', to: copy }) });
    assert.equal(noReason.status, 400);
    assert.equal(((await noReason.json()) as Json).error.code, 'bad_request');
  });

  await t.test('the support lists show authority, availability, status, version and last seen', async () => {
    const list = (await (await support(r1, '/practices?pmsId=PMS-AUTH-1')).json()) as Json;
    assert.equal(list.practices.length, 1);
    assert.equal(list.practices[0].authoritative, original);
    assert.equal(list.practices[0].epoch, 1);
    assert.deepEqual(list.practices[0].sites.map((s: Json) => [s.haloGuid, s.authoritative, s.availability, s.status]), [
      [original, true, 'online', 'active'], [copy, false, 'online', 'active'],
    ]);
    assert.ok(list.practices[0].sites.every((s: Json) => typeof s.lastSeen === 'string' && typeof s.haloLinkVersion === 'string'));
    assert.deepEqual(list.links.map((l: Json) => l.linkGuid).sort(), [link1.linkGuid, link2.linkGuid].sort());
    const bySite = (await (await support(r2, '/sites?pmsId=PMS-AUTH-1')).json()) as Json;
    assert.equal(bySite.sites.length, 2);
  });

  await t.test('after the move every replica follows within 2 s', async () => {
    const res = await support(r2, '/authority', {
      method: 'POST', body: JSON.stringify({ pmsType: 'sample', pmsId: 'PMS-AUTH-1', to: copy, reason: 'server replaced; the copy is the live database', expectedEpoch: 1 }),
    });
    assert.equal(res.status, 200);
    const moved = (await res.json()) as Json;
    assert.equal(moved.practice.authoritative, copy);
    assert.equal(moved.practice.epoch, 2);
    const switchedAt = Date.now();
    await Promise.all([r1, r2].map(async (r) => {
      await eventually(async () => (await query(r, copy)).status === 200 && (await query(r, original)).status === 403, 2000, 25);
    }));
    assert.ok(Date.now() - switchedAt < 2000, `took ${Date.now() - switchedAt} ms`);
    for (const r of [r1, r2]) {
      const old = await query(r, original);
      assert.equal(old.status, 403);
      assert.equal(((await old.json()) as Json).error.code, 'site_not_authoritative');
      assert.deepEqual(resultRows(((await query(r, copy).then((x) => x.json())) as Json)), [{ n: 50 }]);
    }
    const listed = await sites(sys, 'PMS-AUTH-1');
    assert.deepEqual(listed.map((s) => [s.id, s.authoritative]), [[copy, true], [original, false]]);
  });

  await t.test('two simultaneous switches through two replicas: exactly one wins, the other 409', async () => {
    const body = (to: string, reason: string) => JSON.stringify({ pmsType: 'sample', pmsId: 'PMS-AUTH-1', to, reason, expectedEpoch: 2 });
    const [x, y] = await Promise.all([
      support(r1, '/authority', { method: 'POST', body: body(original, 'switch back (r1)') }),
      support(r2, '/authority', { method: 'POST', body: body(original, 'switch back (r2)') }),
    ]);
    assert.deepEqual([x.status, y.status].sort(), [200, 409]);
    const loser = x.status === 409 ? x : y;
    assert.equal(((await loser.json()) as Json).error.code, 'conflict');
  });

  await t.test('the audit trail has who, when, from, to and why of each move', async () => {
    const audit = (await (await support(r1, '/audit?pmsId=PMS-AUTH-1')).json()) as Json;
    assert.equal(audit.entries.length, 2);
    const [first, second] = audit.entries as Json[];
    assert.deepEqual([first!.action, first!.who, first!.from, first!.to, first!.reason, first!.epoch], ['authority.moved', 'alice', original, copy, 'server replaced; the copy is the live database', 2]);
    assert.ok(!Number.isNaN(Date.parse(first!.at)));
    assert.deepEqual([second!.from, second!.to, second!.epoch], [copy, original, 3]);
    assert.match(second!.reason, /^switch back \(r[12]\)$/);
  });
});

test('removed and uninstalled sites keep their authority: integrators see the status and get 404 until support moves it', async (t) => {
  const sys = await startTestSystem();
  t.after(() => sys.close());
  const a = sys.sampleDatabase('practice-a', 'PMS-RET-A', 'Harbourside Dental', 20);
  const b = sys.sampleDatabase('practice-b', 'PMS-RET-B', 'Northgate Dental', 20);
  const copyOfA = sys.copyDatabase(a, 'practice-a-copy');
  const both = [{ name: 'a', engine: 'sqlite' as const, path: a, profile: 'sample' }, { name: 'b', engine: 'sqlite' as const, path: b, profile: 'sample' }];
  const first = await sys.startAgent('link', both);
  const siteA = first.sites.find((s) => s.name === 'a')!.haloGuid;
  const siteB = first.sites.find((s) => s.name === 'b')!.haloGuid;
  const other = await sys.startAgent('link-copy', [{ name: 'a-copy', engine: 'sqlite', path: copyOfA, profile: 'sample' }]);
  const siteCopy = other.sites[0]!.haloGuid;

  // A stopping agent says so in its last heartbeat: offline at once, not after 30 s.
  await first.close();
  await eventually(async () => (await sites(sys, 'PMS-RET-B'))[0]?.availability === 'offline', 5000);

  // Database a leaves the config: its site is removed, still authoritative; queries answer 404.
  const second = await sys.startAgent('link', [both[1]!]);
  assert.deepEqual(second.sites.map((s) => s.haloGuid), [siteB]);
  const afterRemoval = await sites(sys, 'PMS-RET-A');
  assert.deepEqual(afterRemoval.map((s) => [s.id, s.status, s.authoritative]), [[siteA, 'removed', true], [siteCopy, 'active', false]]);
  await eventually(async () => (await sys.call(`/integrator/sites/${siteA}/queries/immediate`, { method: 'POST', body: JSON.stringify(COUNT) })).status === 404, 3000);
  const removed = await sys.call(`/integrator/sites/${siteA}/queries/immediate`, { method: 'POST', body: JSON.stringify(COUNT) });
  assert.equal(((await removed.json()) as Json).error.code, 'site_not_found');
  const copyRefused = await sys.call(`/integrator/sites/${siteCopy}/queries/immediate`, { method: 'POST', body: JSON.stringify(COUNT) });
  assert.equal(copyRefused.status, 403);
  assert.equal((await sys.call(`/integrator/sites/${siteB}/queries/immediate`, { method: 'POST', body: JSON.stringify(COUNT) })).status, 200);

  // Uninstalled: every site of the link says so; authority stays.
  await second.uninstall();
  const afterUninstall = await sites(sys, 'PMS-RET-B');
  assert.deepEqual(afterUninstall.map((s) => [s.id, s.status, s.authoritative]), [[siteB, 'uninstalled', true]]);
  await eventually(async () => (await sys.call(`/integrator/sites/${siteB}/queries/immediate`, { method: 'POST', body: JSON.stringify(COUNT) })).status === 404, 3000);
  assert.equal((await sites(sys, 'PMS-RET-A')).find((s) => s.id === siteA)?.status, 'removed');
});
