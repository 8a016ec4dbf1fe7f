// Revocation: support revokes a link; the hub closes its leaf within seconds (account JWT pushed at runtime) and
// refuses it until the link re-enrols with a token support issues for it; other links are untouched.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { decodeJwt, lookupAccountJwt, parseCreds, revocationsOf } from '@halo/nats-auth';
import { CREDS_FILE } from '@halo/agent';
import { NatsServerProcess, renderNatsConfig } from '@halo/nats-server';
import { eventually, startSecureSystem } from '../support/secure-system.ts';

const COUNT = { command: { text: 'SELECT count(*) AS n FROM patient' } };

test('a revoked link is disconnected within seconds and stays out until it enrols again', async (t) => {
  const sys = await startSecureSystem();
  t.after(() => sys.close());
  const dbA = sys.sampleDatabase('ra', 'PMS-RA');
  const dbs = [{ name: 'a', engine: 'sqlite' as const, path: dbA, profile: 'sample' }];
  const agentA = await sys.startAgent('a', 'production', dbs);
  const agentB = await sys.startAgent('b', 'production', [{ name: 'b', engine: 'sqlite', path: sys.sampleDatabase('rb', 'PMS-RB'), profile: 'sample' }]);
  const siteA = agentA.sites[0]!.haloGuid;
  const siteB = agentB.sites[0]!.haloGuid;
  const query = (site: string) => sys.production.call(`/integrator/sites/${site}/queries/immediate`, { body: COUNT });
  assert.equal((await query(siteA)).status, 200);
  const leafA = `link-${agentA.linkGuid}`;
  assert.ok((await sys.leafNames('production')).includes(leafA));
  const { jwt } = parseCreds(readFileSync(join(sys.stateDir('a'), CREDS_FILE), 'utf8'));
  const oldKey = decodeJwt(jwt).sub;

  const started = Date.now();
  const res = await sys.production.call(`/support/links/${agentA.linkGuid}/revoke`, { support: true, body: { reason: 'laptop stolen' } });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  assert.deepEqual(res.body.revokedKeys, [oldKey]);

  await t.test('the leaf is closed within seconds; the revocation covers JWTs issued before it, with skew', async () => {
    await eventually(async () => !(await sys.leafNames('production')).includes(leafA), 5_000, 50);
    const ms = Date.now() - started;
    assert.ok(ms < 5_000, `closed after ${ms} ms`);
    const held = revocationsOf(await lookupAccountJwt(sys.sysNc, sys.hub.setup.accounts.production.publicKey));
    assert.ok(held[oldKey]! >= (decodeJwt(jwt).iat ?? 0) + 60, 'revoked until well after the JWT was issued');
    assert.ok(held[oldKey]! * 1000 > Date.now(), 'the timestamp is ahead of now (clock skew between registry replicas)');
    assert.equal((await query(siteA)).status, 503);
  });

  await t.test('it cannot come back: the leaf keeps retrying with the revoked creds and is refused', async () => {
    await sleep(3_000);
    assert.ok(!(await sys.leafNames('production')).includes(leafA));
    // A leaf started afresh from the stored (revoked) creds, as a restarted agent would, is refused too.
    await agentA.close();
    const leaf = new NatsServerProcess({
      name: 'leaf-again', dir: join(sys.dir, 'leaf-again'), log: sys.log,
      config: renderNatsConfig('leaf-secure.conf.tmpl', {
        serverName: leafA, clientPort: -1, hubLeafUrls: JSON.stringify(sys.hub.leafUrl),
        credsFile: join(sys.stateDir('a'), CREDS_FILE), caFile: sys.hub.setup.tls.caFile, proxy: '',
      }),
    });
    await leaf.start();
    t.after(() => leaf.close());
    await sleep(2_500);
    assert.ok(!(await sys.leafNames('production')).includes(leafA));
    await leaf.close();
    // A made-up token does not re-enrol it.
    await assert.rejects(sys.startAgent('a', 'production', dbs, { token: 'made-up-token-'.padEnd(43, 'x') }), /enrolment refused/);
  });

  await t.test('link B is untouched', async () => {
    assert.equal((await query(siteB)).status, 200);
    assert.ok((await sys.leafNames('production')).includes(`link-${agentB.linkGuid}`));
  });

  await t.test('a re-enrolment token support issues for the link re-enrols it with a new key, and it serves again', async () => {
    const res = await sys.production.call('/support/enrolment-tokens', { support: true, body: { linkGuid: agentA.linkGuid } });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const again = await sys.startAgent('a', 'production', dbs, { token: res.body.token });
    assert.equal(again.linkGuid, agentA.linkGuid);
    const { jwt: fresh } = parseCreds(readFileSync(join(sys.stateDir('a'), CREDS_FILE), 'utf8'));
    assert.notEqual(decodeJwt(fresh).sub, oldKey);
    await eventually(async () => (await query(siteA)).status === 200, 10_000);
  });

  await t.test('revoking an unknown link is 404; the audit trail has the enrolments and the revocation', async () => {
    const none = await sys.production.call('/support/links/0b8f4c32-6f0e-4b44-9a39-0c9d6f1b7a10/revoke', { support: true, body: { reason: 'x' } });
    assert.equal(none.status, 404);
    const audit = await sys.production.call('/support/audit?limit=100', { support: true });
    assert.equal(audit.status, 200);
    const actions = (audit.body.entries as Array<{ action: string; linkGuid?: string }>).filter((e) => e.linkGuid === agentA.linkGuid).map((e) => e.action);
    assert.deepEqual(actions, ['link.enrolled', 'link.revoked', 'enrolment.token_issued', 'link.reenrolled']);
  });
});
