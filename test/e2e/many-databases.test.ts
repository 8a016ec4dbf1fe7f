// One agent serving many databases, as at a PMS vendor's cloud server: 30 practices plus a copy of one of them.
// Each database is its own site with its own Halo GUID, the GUIDs survive an agent restart, only the copy (same
// PMS ID as its original) is non-authoritative, and each authoritative site answers from its own database.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestSystem } from '../support/system.ts';
import { resultRows } from '../support/halo-result.ts';

type Json = Record<string, any>;

const PRACTICES = 30;
const PATIENTS = 50;

test('one agent serves 30 practices and a copy: 31 Halo GUIDs, stable across a restart, only the copy non-authoritative', async (t) => {
  const sys = await startTestSystem();
  t.after(() => sys.close());
  const pmsIds = Array.from({ length: PRACTICES }, (_, i) => `MANY-${String(i + 1).padStart(3, '0')}`);
  const databases = pmsIds.map((pmsId, i) => ({
    name: `practice-${i + 1}`, engine: 'sqlite' as const, path: sys.sampleDatabase(`practice-${i + 1}`, pmsId, undefined, PATIENTS), profile: 'sample',
  }));
  // A backup of practice 7 restored beside it: the same practice, so the same PMS ID. Listed last, so the
  // original has registered (and holds authority) before the copy asks.
  const copyOf = databases[6]!;
  databases.push({ ...copyOf, name: 'practice-7-copy', path: sys.copyDatabase(copyOf.path, 'practice-7-copy') });

  const first = await sys.startAgent('vendor-cloud', databases);
  assert.deepEqual(first.sites.map((s) => s.name), databases.map((d) => d.name), 'every database is served, in config order');
  assert.deepEqual(first.sites.map((s) => s.pmsId), [...pmsIds, pmsIds[6]]);
  assert.equal(new Set(first.sites.map((s) => s.haloGuid)).size, PRACTICES + 1, 'one Halo GUID per database');
  assert.deepEqual(first.sites.filter((s) => !s.authoritative).map((s) => s.name), ['practice-7-copy']);
  const guids = new Map(first.sites.map((s) => [s.name, s.haloGuid]));
  await first.close();

  const second = await sys.startAgent('vendor-cloud', databases);
  assert.equal(second.linkGuid, first.linkGuid);
  assert.deepEqual(new Map(second.sites.map((s) => [s.name, s.haloGuid])), guids, 'the same Halo GUIDs after the restart');
  assert.deepEqual(second.sites.filter((s) => !s.authoritative).map((s) => s.name), ['practice-7-copy']);

  // Each authoritative site answers from its own database, all at once.
  const authoritative = second.sites.filter((s) => s.authoritative);
  assert.equal(authoritative.length, PRACTICES);
  const answers = await Promise.all(authoritative.map(async (site) => {
    const res = await sys.call(`/integrator/sites/${site.haloGuid}/queries/immediate`, {
      method: 'POST', body: JSON.stringify({ command: { text: 'SELECT PmsId FROM practice' } }),
    });
    const body = (await res.json()) as Json;
    assert.equal(res.status, 200, `${site.name}: ${JSON.stringify(body)}`);
    return resultRows(body) as Json[];
  }));
  assert.deepEqual(answers, pmsIds.map((PmsId) => [{ PmsId }]));

  const copy = second.sites.find((s) => s.name === 'practice-7-copy')!;
  const refused = await sys.call(`/integrator/sites/${copy.haloGuid}/queries/immediate`, {
    method: 'POST', body: JSON.stringify({ command: { text: 'SELECT PmsId FROM practice' } }),
  });
  assert.equal(refused.status, 403);
  assert.equal(((await refused.json()) as Json).error.code, 'site_not_authoritative');
  const lookup = (await (await sys.call(`/integrator/sites?practiceManagementSiteId=${pmsIds[6]}`)).json()) as Json;
  assert.deepEqual(lookup.sites.map((s: Json) => [s.id, s.authoritative]), [[guids.get('practice-7'), true], [copy.haloGuid, false]]);
});
