// State carried to another machine, through the real system: hub, registry, facade, agents with leaves.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { MachineFingerprint } from '@halo/agent';
import { startTestSystem } from '../support/system.ts';
import { resultRows } from '../support/halo-result.ts';

const MACHINE_ONE: MachineFingerprint = { machineId: 'machine-one', hostName: 'practice-server' };
// A cloned VM or restored backup usually keeps the host name; the machine id is what tells it apart.
const MACHINE_TWO: MachineFingerprint = { machineId: 'machine-two', hostName: 'practice-server' };

const COUNT = { command: { text: 'SELECT count(*) AS n FROM patient' } };

test('state copied to another machine registers new, non-authoritative sites; the original keeps authority', async (t) => {
  const sys = await startTestSystem();
  t.after(() => sys.close());
  const db = sys.sampleDatabase('practice', 'PMS-MOVE-1', 'Moving Dental', 40);
  const databases = [{ name: 'main', engine: 'sqlite' as const, path: db, profile: 'sample' }];

  const original = await sys.startAgent('original', databases, {}, { fingerprintSource: () => MACHINE_ONE });
  const originalSite = original.sites[0]!;
  assert.equal(originalSite.authoritative, true);

  // The copy: the whole state directory, as a backup restore or a VM clone would bring it.
  const originalDir = join(sys.dir, 'agents', 'original');
  const cloneDir = join(sys.dir, 'agents', 'clone');
  cpSync(originalDir, cloneDir, { recursive: true });
  const clone = await sys.startAgent('clone', databases, { stateDir: cloneDir }, { fingerprintSource: () => MACHINE_TWO });
  const cloneSite = clone.sites[0]!;
  assert.notEqual(clone.linkGuid, original.linkGuid);
  assert.notEqual(cloneSite.haloGuid, originalSite.haloGuid);
  assert.equal(cloneSite.pmsId, 'PMS-MOVE-1');
  assert.equal(cloneSite.authoritative, false);
  assert.equal(readFileSync(join(cloneDir, 'state.previous.json'), 'utf8'), readFileSync(join(originalDir, 'state.json'), 'utf8'));

  const sites = await (await sys.call('/integrator/sites?practiceManagementSiteId=PMS-MOVE-1')).json() as any;
  assert.deepEqual(sites.sites.map((s: any) => [s.id, s.authoritative]), [[originalSite.haloGuid, true], [cloneSite.haloGuid, false]]);

  const fromOriginal = await sys.call(`/integrator/sites/${originalSite.haloGuid}/queries/immediate`, { method: 'POST', body: JSON.stringify(COUNT) });
  assert.equal(fromOriginal.status, 200);
  assert.deepEqual(resultRows(((await fromOriginal.json()) as any)), [{ n: 40 }]);
  const fromClone = await sys.call(`/integrator/sites/${cloneSite.haloGuid}/queries/immediate`, { method: 'POST', body: JSON.stringify(COUNT) });
  assert.equal(fromClone.status, 403);
  assert.equal(((await fromClone.json()) as any).error.code, 'site_not_authoritative');

  // The original restarting on its own machine, even renamed, is the same link and keeps authority.
  await original.close();
  const renamed = await sys.startAgent('original', databases, {}, { fingerprintSource: () => ({ ...MACHINE_ONE, hostName: 'practice-server-2' }) });
  assert.equal(renamed.linkGuid, original.linkGuid);
  assert.deepEqual(renamed.sites.map((s) => [s.haloGuid, s.authoritative]), [[originalSite.haloGuid, true]]);

  // The clone's config now names another database under the same name: another Halo GUID, same link.
  await clone.close();
  const elsewhere = sys.copyDatabase(db, 'practice-copy');
  const repointed = await sys.startAgent('clone', [{ ...databases[0]!, path: elsewhere }], { stateDir: cloneDir }, { fingerprintSource: () => MACHINE_TWO });
  assert.equal(repointed.linkGuid, clone.linkGuid);
  assert.notEqual(repointed.sites[0]!.haloGuid, cloneSite.haloGuid);
  assert.equal(repointed.sites[0]!.authoritative, false);
  const after = await (await sys.call(`/integrator/sites/${originalSite.haloGuid}/queries/immediate`, { method: 'POST', body: JSON.stringify(COUNT) })).json() as any;
  assert.deepEqual(resultRows(after), [{ n: 40 }]);
});
