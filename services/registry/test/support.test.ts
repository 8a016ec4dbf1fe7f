import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import {
  AppError, LookupResult, RegisterResult, SiteResult, SupportAuditResult, SupportListResult, SupportMoveResult, UnregisterResult, subjects,
  type Heartbeat, type RegisterRequest, type SupportMoveRequest,
} from '@halo/contracts';
import { createLogger } from '@halo/log';
import { connectNats, encodeJson, requestJson } from '@halo/messaging';
import { cleanupStack, launchHub } from '@halo/testkit';
import { startRegistry, type RegistryDeps } from '@halo/registry';

const log = createLogger({ name: 'test', level: 'silent' });
const opts = { timeoutMs: 10_000, noResponders: 'registry_unavailable' } as const;

function site(pmsId: string, haloGuid: string = randomUUID()): RegisterRequest['sites'][number] {
  return { haloGuid, pmsType: 'sample', pmsId, practiceName: 'Practice', databaseIdentity: `sqlite:/${haloGuid}.db`, catalogues: [{ name: 'main', isDefault: true }] };
}

function registration(sites: RegisterRequest['sites'], linkGuid: string = randomUUID(), configuredSites?: string[]): RegisterRequest {
  return { linkGuid, env: 'production', version: 'test', sites, ...(configuredSites ? { configuredSites } : {}) };
}

async function setup(t: TestContext, options: { replicas?: number; registry?: Partial<RegistryDeps> } = {}) {
  const defer = cleanupStack(t);
  const hub = await launchHub();
  defer(() => hub.close());
  for (let i = 0; i < (options.replicas ?? 1); i++) {
    const nc = await connectNats({ servers: hub.clientUrl, name: `registry-${i}`, log });
    defer(() => nc.close());
    const registry = await startRegistry({ nc, log, env: 'production', ...options.registry });
    defer(() => registry.close());
  }
  const client = await connectNats({ servers: hub.clientUrl, name: 'client', log });
  defer(() => client.close());
  const call = {
    register: (r: RegisterRequest) => requestJson(client, subjects.linkRegistry('register', r.linkGuid), r, RegisterResult, opts),
    lookup: async (pmsId: string) => (await requestJson(client, subjects.registry('lookup'), { pmsId }, LookupResult, opts)).sites,
    site: async (haloGuid: string) => (await requestJson(client, subjects.registry('site'), { haloGuid }, SiteResult, opts)).site,
    move: (r: SupportMoveRequest) => requestJson(client, subjects.registry('support.move'), r, SupportMoveResult, opts),
    list: (r: { pmsId?: string } = {}) => requestJson(client, subjects.registry('support.list'), r, SupportListResult, opts),
    audit: async (r: { pmsId?: string; limit?: number } = {}) => (await requestJson(client, subjects.registry('support.audit'), r, SupportAuditResult, opts)).entries,
    unregister: (linkGuid: string) => requestJson(client, subjects.linkRegistry('unregister', linkGuid), { linkGuid }, UnregisterResult, opts),
  };
  return { client, call };
}

async function twoSites(call: Awaited<ReturnType<typeof setup>>['call'], pmsId: string) {
  const original = site(pmsId);
  const backup = site(pmsId);
  const r1 = await call.register(registration([original]));
  const r2 = await call.register(registration([backup]));
  assert.equal(r1.sites[0]?.authoritative, true);
  assert.equal(r2.sites[0]?.authoritative, false);
  return { original: original.haloGuid, backup: backup.haloGuid };
}

test('support moves authority with a reason: lookups follow, the epoch goes up, and the audit trail says who, when, from, to, why', async (t) => {
  const { call } = await setup(t);
  const { original, backup } = await twoSites(call, 'MOVE-1');
  const before = Date.now();
  const moved = await call.move({ pmsType: 'sample', pmsId: 'MOVE-1', to: backup, reason: 'server migrated (ticket 42)', by: 'alice' });
  assert.equal(moved.practice.authoritative, backup);
  assert.equal(moved.practice.epoch, 2);
  assert.equal(moved.practice.by, 'alice');
  assert.deepEqual(moved.practice.sites.map((s) => [s.haloGuid, s.authoritative]), [[backup, true], [original, false]]);

  const sites = await call.lookup('MOVE-1');
  assert.deepEqual(sites.map((s) => [s.haloGuid, s.authoritative]), [[backup, true], [original, false]]);
  assert.equal((await call.site(original))?.authoritative, false);

  const entries = await call.audit({ pmsId: 'MOVE-1' });
  assert.equal(entries.length, 1);
  const entry = entries[0]!;
  assert.equal(entry.action, 'authority.moved');
  assert.equal(entry.who, 'alice');
  assert.equal(entry.from, original);
  assert.equal(entry.to, backup);
  assert.equal(entry.reason, 'server migrated (ticket 42)');
  assert.equal(entry.epoch, 2);
  assert.equal(entry.pmsId, 'MOVE-1');
  assert.ok(Date.parse(entry.at) >= before - 1000 && Date.parse(entry.at) <= Date.now() + 1000);
  assert.ok(entry.seq !== undefined && entry.seq > 0);

  // And back again: two entries, oldest first; another practice's trail stays empty.
  await call.move({ pmsType: 'sample', pmsId: 'MOVE-1', to: original, reason: 'migration rolled back', by: 'bob' });
  assert.deepEqual((await call.audit({ pmsId: 'MOVE-1' })).map((e) => [e.who, e.to, e.epoch]), [['alice', backup, 2], ['bob', original, 3]]);
  assert.deepEqual(await call.audit({ pmsId: 'OTHER' }), []);
  assert.deepEqual((await call.audit({ limit: 1 })).map((e) => e.who), ['bob']);
});

test('moves are refused with coded errors: no reason, unknown practice, a site of another practice, already authoritative, stale epoch', async (t) => {
  const { call } = await setup(t);
  const { original, backup } = await twoSites(call, 'MOVE-2');
  const other = site('MOVE-OTHER');
  await call.register(registration([other]));
  const base = { pmsType: 'sample', pmsId: 'MOVE-2', to: backup, reason: 'why', by: 'alice' };
  await assert.rejects(call.move({ ...base, reason: '   ' }), { code: 'bad_request' });
  await assert.rejects(call.move({ ...base, pmsId: 'NOPE' }), { code: 'not_found' });
  await assert.rejects(call.move({ ...base, pmsType: 'bp' }), { code: 'not_found' });
  await assert.rejects(call.move({ ...base, to: other.haloGuid }), { code: 'bad_request' });
  await assert.rejects(call.move({ ...base, to: randomUUID() }), { code: 'bad_request' });
  await assert.rejects(call.move({ ...base, to: original }), { code: 'conflict' });
  await assert.rejects(call.move({ ...base, expectedEpoch: 7 }), { code: 'conflict' });
  assert.deepEqual(await call.audit(), []);
  assert.equal((await call.lookup('MOVE-2'))[0]?.haloGuid, original);
});

test('two registry replicas, simultaneous switches: exactly one wins, the others get 409 conflict, one audit entry per win', async (t) => {
  const { call } = await setup(t, { replicas: 2 });
  for (let round = 0; round < 4; round++) {
    const pmsId = `SWITCH-${round}`;
    const { original } = await twoSites(call, pmsId);
    const targets = await Promise.all([1, 2, 3].map(async () => {
      const s = site(pmsId);
      await call.register(registration([s]));
      return s.haloGuid;
    }));
    // Every support user saw epoch 1 and moves to a different site at once.
    const outcomes = await Promise.allSettled(targets.map((to, i) =>
      call.move({ pmsType: 'sample', pmsId, to, reason: `switch ${i}`, by: `user${i}`, expectedEpoch: 1 })));
    const wins = outcomes.filter((o) => o.status === 'fulfilled');
    assert.equal(wins.length, 1, `round ${round}`);
    for (const o of outcomes) if (o.status === 'rejected') assert.equal((o.reason as AppError).code, 'conflict');
    const winner = (wins[0] as PromiseFulfilledResult<SupportMoveResult>).value;
    const sites = await call.lookup(pmsId);
    assert.deepEqual(sites.filter((s) => s.authoritative).map((s) => s.haloGuid), [winner.practice.authoritative]);
    const entries = await call.audit({ pmsId });
    assert.deepEqual(entries.map((e) => [e.from, e.to, e.epoch]), [[original, winner.practice.authoritative, 2]]);
  }
});

test('without an expected epoch, racing moves never lose an update: every win is one epoch and one audit entry', async (t) => {
  const { call } = await setup(t, { replicas: 2 });
  const { original } = await twoSites(call, 'RACE-CAS');
  const targets = await Promise.all(Array.from({ length: 6 }, async () => {
    const s = site('RACE-CAS');
    await call.register(registration([s]));
    return s.haloGuid;
  }));
  const outcomes = await Promise.allSettled(targets.map((to, i) => call.move({ pmsType: 'sample', pmsId: 'RACE-CAS', to, reason: `r${i}`, by: 'carol' })));
  const wins = outcomes.filter((o): o is PromiseFulfilledResult<SupportMoveResult> => o.status === 'fulfilled');
  for (const o of outcomes) if (o.status === 'rejected') assert.equal((o.reason as AppError).code, 'conflict');
  assert.ok(wins.length >= 1);
  const entries = await call.audit({ pmsId: 'RACE-CAS' });
  assert.equal(entries.length, wins.length);
  // The trail is a chain: each move starts where the previous one ended.
  let from = original;
  entries.forEach((e, i) => {
    assert.equal(e.from, from);
    assert.equal(e.epoch, i + 2);
    from = e.to!;
  });
  assert.equal((await call.lookup('RACE-CAS')).find((s) => s.authoritative)?.haloGuid, from);
});

test('a database leaving the config marks its site removed; an uninstall marks every site uninstalled; authority never moves', async (t) => {
  const { call } = await setup(t);
  const linkGuid = randomUUID();
  const a = site('REM-A');
  const b = site('REM-B');
  const c = site('REM-C');
  await call.register(registration([a, b, c], linkGuid));
  const backupOfA = site('REM-A');
  await call.register(registration([backupOfA]));

  // b is still configured but could not be opened: not removed. a left the config: removed.
  await call.register(registration([c], linkGuid, [b.haloGuid, c.haloGuid]));
  const removed = await call.lookup('REM-A');
  assert.deepEqual(removed.map((s) => [s.haloGuid, s.status, s.authoritative]), [[a.haloGuid, 'removed', true], [backupOfA.haloGuid, 'active', false]]);
  assert.equal((await call.site(b.haloGuid))?.status, 'active');
  assert.deepEqual((await call.audit({ pmsId: 'REM-A' })).map((e) => [e.action, e.haloGuid, e.who]), [['site.removed', a.haloGuid, `link:${linkGuid}`]]);
  // Registering again without it does not audit it twice.
  await call.register(registration([c], linkGuid, [b.haloGuid, c.haloGuid]));
  assert.equal((await call.audit({ pmsId: 'REM-A' })).length, 1);

  // Put back in the config: active again, still authoritative.
  await call.register(registration([a, c], linkGuid, [a.haloGuid, b.haloGuid, c.haloGuid]));
  assert.deepEqual((await call.lookup('REM-A')).map((s) => [s.status, s.authoritative]), [['active', true], ['active', false]]);

  const result = await call.unregister(linkGuid);
  assert.deepEqual(new Set(result.sites), new Set([a.haloGuid, b.haloGuid, c.haloGuid]));
  for (const s of [a, b, c]) assert.equal((await call.site(s.haloGuid))?.status, 'uninstalled');
  assert.equal((await call.site(a.haloGuid))?.authoritative, true);
  assert.equal((await call.site(backupOfA.haloGuid))?.status, 'active');
  assert.deepEqual((await call.audit({ pmsId: 'REM-C' })).map((e) => e.action), ['site.uninstalled']);
  await assert.rejects(call.unregister(randomUUID()), { code: 'not_found' });

  // Only support moves authority, onto the backup.
  await call.move({ pmsType: 'sample', pmsId: 'REM-A', to: backupOfA.haloGuid, reason: 'original uninstalled', by: 'alice' });
  assert.deepEqual((await call.lookup('REM-A')).map((s) => [s.haloGuid, s.authoritative]), [[backupOfA.haloGuid, true], [a.haloGuid, false]]);
});

test('availability follows heartbeats on an injected clock; a stopping agent is offline at once; clock drift over the limit is flagged', async (t) => {
  let clock = Date.parse('2026-03-01T10:00:00Z');
  const { client, call } = await setup(t, { registry: { now: () => clock, thresholds: { onlineWithinMs: 3000, unreachableAfterMs: 10_000, maxClockDriftMs: 60_000 } } });
  const linkGuid = randomUUID();
  const s = site('AVAIL-1');
  await call.register(registration([s], linkGuid));
  const beat = async (extra: Partial<Heartbeat> = {}) => {
    const hb: Heartbeat = { linkGuid, version: 'test', sites: [s.haloGuid], load: { inFlight: 1, queued: 2 }, clock, ...extra };
    client.publish(subjects.heartbeat(linkGuid), encodeJson(hb));
    await client.flush();
  };
  const availability = async () => (await call.site(s.haloGuid))?.availability;
  const until = async (fn: () => Promise<boolean>) => {
    for (let i = 0; i < 100 && !(await fn()); i++) await new Promise((r) => setTimeout(r, 20));
  };

  assert.equal(await availability(), 'online');
  clock += 2000;
  assert.equal(await availability(), 'online');
  clock += 2000;
  assert.equal(await availability(), 'offline');
  await beat();
  await until(async () => (await availability()) === 'online');
  assert.equal(await availability(), 'online');
  clock += 10_000;
  assert.equal(await availability(), 'unreachable');

  await beat();
  await until(async () => (await availability()) === 'online');
  await beat({ stopping: true });
  await until(async () => (await availability()) === 'offline');
  assert.equal(await availability(), 'offline');
  // A periodic heartbeat sent before the stopping one but handled after it (overtaken on the way) changes nothing.
  await beat({ clock: clock - 1000 });
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(await availability(), 'offline');
  await beat();
  await until(async () => (await availability()) === 'online');
  assert.equal(await availability(), 'online');

  assert.equal((await call.site(s.haloGuid))?.clockDrift, false);
  await beat({ clock: clock + 61_000 });
  await until(async () => (await call.site(s.haloGuid))?.clockDrift === true);
  const listed = await call.list({ pmsId: 'AVAIL-1' });
  const link = listed.links.find((l) => l.linkGuid === linkGuid);
  assert.equal(link?.clockDrift, true);
  assert.equal(link?.clockSkewMs, 61_000);
  assert.deepEqual(link?.load, { inFlight: 1, queued: 2 });
  assert.equal(link?.availability, 'online');
  assert.equal(listed.practices[0]?.sites[0]?.clockDrift, true);
  await beat({ clock: clock - 59_000 });
  await until(async () => (await call.site(s.haloGuid))?.clockDrift === false);
  assert.equal((await call.site(s.haloGuid))?.clockDrift, false);
});

test('the support list shows practices with their sites and the links serving them', async (t) => {
  const { call } = await setup(t);
  const { original, backup } = await twoSites(call, 'LIST-1');
  await call.register(registration([site('LIST-2')]));
  const all = await call.list();
  assert.deepEqual(all.practices.map((p) => p.pmsId).sort(), ['LIST-1', 'LIST-2']);
  assert.equal(all.links.length, 3);
  const one = await call.list({ pmsId: 'LIST-1' });
  assert.equal(one.practices.length, 1);
  const practice = one.practices[0]!;
  assert.equal(practice.authoritative, original);
  assert.equal(practice.epoch, 1);
  assert.deepEqual(practice.sites.map((s) => [s.haloGuid, s.authoritative, s.status, s.availability, s.haloLinkVersion]), [
    [original, true, 'active', 'online', 'test'], [backup, false, 'active', 'online', 'test'],
  ]);
  assert.ok(practice.sites.every((s) => typeof s.lastSeen === 'string'));
  assert.equal(one.links.length, 2);
  assert.ok(one.links.every((l) => l.availability === 'online' && l.version === 'test' && !l.clockDrift));
});
