// POST /integrator/pair-site: the practice reads a pairing code from its PMS and gives it to the integrator;
// only the code's hash ever leaves the practice.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { samplePairingCode } from '@halo/sample-practice';
import { startTestSystem } from '../support/system.ts';

type Json = Record<string, any>;

test('an integrator pairs with the authoritative site of the practice whose PMS issued the code', async (t) => {
  const sys = await startTestSystem();
  t.after(() => sys.close());
  const a = sys.sampleDatabase('a', 'PAIR-1');
  const link1 = await sys.startAgent('link-1', [{ name: 'a', engine: 'sqlite', path: a, profile: 'sample' }]);
  // A restored backup of the same PMS database issues the same code.
  await sys.startAgent('link-2', [{ name: 'a-backup', engine: 'sqlite', path: sys.copyDatabase(a, 'a-backup'), profile: 'sample' }]);
  const pair = async (body: unknown) => {
    const res = await sys.call('/integrator/pair-site', { method: 'POST', body: JSON.stringify(body) });
    return { status: res.status, body: (await res.json()) as Json };
  };
  const code = samplePairingCode('PAIR-1');
  const paired = await pair({ pairingCode: code });
  assert.equal(paired.status, 200);
  assert.equal(paired.body.site.id, link1.sites[0]!.haloGuid);
  assert.equal(paired.body.site.authoritative, true);
  assert.equal(paired.body.site.practiceMetadata.practiceManagementSiteId, 'PAIR-1');
  // Codes are read as the PMS shows them, whatever the case and surrounding spaces.
  assert.equal((await pair({ pairingCode: ` ${code.toLowerCase()} ` })).body.site.id, link1.sites[0]!.haloGuid);

  const unknown = await pair({ pairingCode: 'PAIR-NOPE123' });
  assert.equal(unknown.status, 404);
  assert.equal(unknown.body.error.code, 'not_found');
  assert.equal((await pair({ code })).status, 400);
  assert.equal((await pair({ pairingCode: 'x' })).status, 400);
  const noKey = await sys.call('/integrator/pair-site', { method: 'POST', body: JSON.stringify({ pairingCode: code }), key: null });
  assert.equal(noKey.status, 401);
});
