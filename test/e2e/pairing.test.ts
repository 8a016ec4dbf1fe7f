// POST /integrator/pair-site?practiceManagementSiteId=&practiceManagementName=&pairingCode= (as Halo; the
// deprecated /integrator/pairSite too): the practice reads a pairing code from its PMS and gives it to the
// integrator with its PMS ID; only the code's hash ever leaves the practice.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomUUID } from 'node:crypto';
import Database from 'better-sqlite3';
import { PairResult, RegisterResult, subjects, type RegisterRequest } from '@halo/contracts';
import { connectNats, requestJson } from '@halo/messaging';
import { SAMPLE_INTEGRATION, samplePairingCode } from '@halo/sample-practice';
import { startTestSystem } from '../support/system.ts';

type Json = Record<string, any>;

test('an integrator pairs with the authoritative site of the practice whose PMS issued the code', async (t) => {
  const sys = await startTestSystem({ requirePairing: true });
  t.after(() => sys.close());
  const a = sys.sampleDatabase('a', 'PAIR-1');
  const link1 = await sys.startAgent('link-1', [{ name: 'a', engine: 'sqlite', path: a, profile: 'sample' }]);
  // A restored backup of the same PMS database issues the same code.
  await sys.startAgent('link-2', [{ name: 'a-backup', engine: 'sqlite', path: sys.copyDatabase(a, 'a-backup'), profile: 'sample' }]);
  const pair = async (query: Record<string, string>, path = '/integrator/pair-site', headers: Record<string, string> = {}) => {
    const res = await sys.call(`${path}?${new URLSearchParams(query)}`, { method: 'POST', headers });
    return { status: res.status, body: (await res.json()) as Json };
  };
  const code = samplePairingCode('PAIR-1');
  const params = { practiceManagementSiteId: 'PAIR-1', practiceManagementName: 'Sample Dental' };
  // Halo: "all API endpoints require an active pairing". Before it, queries are 403 site_not_paired; the site's
  // status can be read (it is what integrators check first).
  const siteId = link1.sites[0]!.haloGuid;
  const query = (mode: 'immediate' | 'async') => sys.call(`/integrator/sites/${siteId}/queries/${mode}`, { method: 'POST', body: JSON.stringify({ command: { text: 'SELECT 1 AS one' } }) });
  for (const mode of ['immediate', 'async'] as const) {
    const refused = await query(mode);
    assert.equal(refused.status, 403);
    assert.equal(((await refused.json()) as Json).error.code, 'site_not_paired');
  }
  assert.equal((await sys.call(`/integrator/sites/${siteId}`)).status, 200);
  const paired = await pair({ ...params, pairingCode: code });
  assert.equal(paired.status, 200, JSON.stringify(paired.body));
  assert.equal(paired.body.id, link1.sites[0]!.haloGuid);
  assert.equal(paired.body.authoritative, true);
  assert.equal(paired.body.practiceMetadata.practiceManagementSiteId, 'PAIR-1');
  assert.equal(paired.body.practiceManagementSiteId, 'PAIR-1');
  const answered = await query('immediate');
  assert.equal(answered.status, 200);
  assert.equal((await query('async')).status, 201);
  // Codes are read as the PMS shows them, whatever the case and surrounding spaces; the deprecated alias, and a
  // client that sends `Content-Type: application/json` with no body, pair the same.
  assert.equal((await pair({ ...params, pairingCode: ` ${code.toLowerCase()} ` })).body.id, link1.sites[0]!.haloGuid);
  assert.equal((await pair({ ...params, pairingCode: code }, '/integrator/pairSite')).body.id, link1.sites[0]!.haloGuid);
  assert.equal((await pair({ ...params, pairingCode: code }, '/integrator/pair-site', { 'content-type': 'application/json' })).body.id, link1.sites[0]!.haloGuid);

  const unknown = await pair({ ...params, pairingCode: 'PAIR-NOPE123' });
  assert.equal(unknown.status, 404);
  assert.equal(unknown.body.error.code, 'not_found');
  // The code must be the one of that PMS ID and PMS.
  assert.equal((await pair({ ...params, practiceManagementSiteId: 'PAIR-9', pairingCode: code })).status, 404);
  assert.equal((await pair({ ...params, practiceManagementName: 'Best Practice', pairingCode: code })).status, 404);
  assert.equal((await pair({ ...params, practiceManagementName: 'No Such PMS', pairingCode: code })).status, 400);
  assert.equal((await pair({ ...params })).status, 400);
  assert.equal((await pair({ pairingCode: code })).status, 400);
  assert.equal((await pair({ ...params, pairingCode: 'x' })).status, 400);
  const noKey = await sys.call(`/integrator/pair-site?${new URLSearchParams({ ...params, pairingCode: code })}`, { method: 'POST', key: null });
  assert.equal(noKey.status, 401);
});

test('a code pairs only while the PMS issues it, and never with another practice whose link claims it', async (t) => {
  const sys = await startTestSystem();
  t.after(() => sys.close());
  const path = sys.sampleDatabase('p', 'PAIR-2');
  const dbs = [{ name: 'p', engine: 'sqlite' as const, path, profile: 'sample' }];
  let link = await sys.startAgent('link-1', dbs);
  const site = link.sites[0]!.haloGuid;
  const pair = async (pairingCode: string) => {
    const res = await sys.call(`/integrator/pair-site?${new URLSearchParams({ practiceManagementSiteId: 'PAIR-2', practiceManagementName: 'sample', pairingCode })}`, { method: 'POST' });
    return { status: res.status, body: (await res.json()) as Json };
  };
  const code = samplePairingCode('PAIR-2');
  assert.equal((await pair(code)).body.id, site);

  // Any link may send any code hash for its own sites (the sample code is even derived from the PMS ID).
  const nc = await connectNats({ servers: sys.hub.clientUrl, name: 'other-link', log: sys.log });
  t.after(() => nc.close());
  const other = { linkGuid: randomUUID(), haloGuid: randomUUID() };
  const claim = (codeHashes: string[]) => {
    const request: RegisterRequest = {
      linkGuid: other.linkGuid, env: 'production', version: '0.1.0',
      sites: [{ haloGuid: other.haloGuid, pmsType: 'sample', pmsId: 'OTHER-9', practiceName: 'Other Dental', databaseIdentity: 'sqlite:/other.db', catalogues: [{ name: 'main', isDefault: true }] }],
      pairing: [{ haloGuid: other.haloGuid, codeHashes }, { haloGuid: site, codeHashes: [sha256('PAIR-FORGED1')] }],
    };
    return requestJson(nc, subjects.linkRegistry('register', other.linkGuid), request, RegisterResult, { timeoutMs: 10_000, noResponders: 'registry_unavailable' });
  };
  await claim([sha256(code)]);
  const contested = await pair(code);
  assert.equal(contested.status, 409, JSON.stringify(contested.body));
  assert.equal(contested.body.error.code, 'conflict');
  // A code hash sent for another link's site is ignored.
  assert.equal((await pair('PAIR-FORGED1')).status, 404);
  // Once the other link no longer claims it, the code pairs with its practice again.
  await claim([]);
  assert.equal((await pair(code)).body.id, site);

  // The PMS issues a new code: the old one stops pairing at the agent's next registration.
  await link.close();
  const db = new Database(path);
  db.prepare('UPDATE integration SET PairingCode = ? WHERE Name = ?').run('PAIR-ROTATED7', SAMPLE_INTEGRATION);
  db.close();
  link = await sys.startAgent('link-1', dbs);
  assert.equal((await pair(code)).status, 404);
  assert.equal((await pair('PAIR-ROTATED7')).body.id, site);
});

function sha256(code: string): string {
  return createHash('sha256').update(code.trim().toUpperCase()).digest('hex');
}

test('an integrator not onboarded for the practice\'s PMS type is refused and left unpaired', async (t) => {
  const sys = await startTestSystem();
  t.after(() => sys.close());
  await sys.startAgent('link-1', [{ name: 'a', engine: 'sqlite', path: sys.sampleDatabase('a', 'PAIR-3'), profile: 'sample' }]);
  const nc = await connectNats({ servers: sys.hub.clientUrl, name: 'facade-like', log: sys.log });
  t.after(() => nc.close());
  const codeHash = createHash('sha256').update(samplePairingCode('PAIR-3')).digest('hex');
  const pairAs = (integratorId: string, onboardedPmsTypes?: string[]) => requestJson(nc, subjects.registry('pair'),
    { integratorId, codeHash, ...(onboardedPmsTypes ? { onboardedPmsTypes } : {}) }, PairResult, { timeoutMs: 5_000, noResponders: 'registry_unavailable' });
  await assert.rejects(pairAs('bp-only', ['bp']), (err: any) => err.code === 'not_onboarded');
  assert.ok((await pairAs('sample-too', ['bp', 'sample'])).site);
  const { Kvm } = await import('@nats-io/kv');
  const pairings = await new Kvm(nc).open('pairings');
  const keys: string[] = [];
  for await (const key of await pairings.keys()) keys.push(key);
  const who = (id: string) => Buffer.from(id, 'utf8').toString('base64url');
  assert.ok(keys.some((k) => k.startsWith(`${who('sample-too')}.`)), 'the onboarded integrator is paired');
  assert.ok(!keys.some((k) => k.startsWith(`${who('bp-only')}.`)), 'nothing is recorded for the refused one');
});

test('a practice whose PMS profile issues no pairing codes pairs by PMS ID alone; one whose profile does needs its code', async (t) => {
  const sys = await startTestSystem({ requirePairing: true });
  t.after(() => sys.close());
  const nc = await connectNats({ servers: sys.hub.clientUrl, name: 'open-dental-link', log: sys.log });
  t.after(() => nc.close());
  // An Open Dental practice, registered as its link would (that profile reads no pairing codes).
  const link = { linkGuid: randomUUID(), haloGuid: randomUUID() };
  const request: RegisterRequest = {
    linkGuid: link.linkGuid, env: 'production', version: '0.1.0',
    sites: [{ haloGuid: link.haloGuid, pmsType: 'opendental', pmsId: 'OD-7', practiceName: 'Open Dental Practice', databaseIdentity: 'mysql:od', catalogues: [{ name: 'main', isDefault: true }] }],
  };
  await requestJson(nc, subjects.linkRegistry('register', link.linkGuid), request, RegisterResult, { timeoutMs: 10_000, noResponders: 'registry_unavailable' });
  const pair = async (query: Record<string, string>) => {
    const res = await sys.call(`/integrator/pair-site?${new URLSearchParams(query)}`, { method: 'POST' });
    return { status: res.status, body: (await res.json()) as Json };
  };
  const paired = await pair({ practiceManagementSiteId: 'OD-7', practiceManagementName: 'Open Dental' });
  assert.equal(paired.status, 200, JSON.stringify(paired.body));
  assert.equal(paired.body.id, link.haloGuid);
  assert.equal(paired.body.pmsType, 'opendental');
  assert.equal((await pair({ practiceManagementSiteId: 'OD-8', practiceManagementName: 'Open Dental' })).status, 404);

  const sampleSite = (await sys.startAgent('link-s', [{ name: 's', engine: 'sqlite', path: sys.sampleDatabase('s', 'PAIR-4'), profile: 'sample' }])).sites[0]!.haloGuid;
  const noCode = await pair({ practiceManagementSiteId: 'PAIR-4', practiceManagementName: 'Sample Dental' });
  assert.equal(noCode.status, 400);
  assert.match(noCode.body.error.message, /pairingCode is required/);
  const queried = await sys.call(`/integrator/sites/${sampleSite}/queries/immediate`, { method: 'POST', body: JSON.stringify({ command: { text: 'SELECT 1 AS one' } }) });
  assert.equal(queried.status, 403);
  assert.equal(((await queried.json()) as Json).error.code, 'site_not_paired');
});
