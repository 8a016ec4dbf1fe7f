// Enrolment end to end in operator/JWT mode: support issues a one-time token, the agent generates its nkey and
// enrols over HTTPS (facade -> registry), its leaf connects over TLS with the minted creds, and a query runs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { createUser, decodeJwt, parseCreds } from '@halo/nats-auth';
import { CREDS_FILE } from '@halo/agent';
import { startSecureSystem } from '../support/secure-system.ts';
import { resultRows } from '../support/halo-result.ts';

const COUNT = { command: { text: 'SELECT count(*) AS n FROM patient' } };

test('a link enrols with a one-time token and is queried through the secure hub and its TLS leaf', async (t) => {
  const sys = await startSecureSystem();
  t.after(() => sys.close());
  const db = sys.sampleDatabase('enrol-a', 'PMS-ENROL-1');
  const token = await sys.production.enrolmentToken();
  const agent = await sys.startAgent('a', 'production', [{ name: 'a', engine: 'sqlite', path: db, profile: 'sample' }], { token });
  const site = agent.sites[0]!;
  assert.equal(site.authoritative, true);

  await t.test('the creds are stored 0600 and pinned to this link by the scoped link signing key', () => {
    const file = join(sys.stateDir('a'), CREDS_FILE);
    assert.equal(statSync(file).mode & 0o777, 0o600);
    const { jwt } = parseCreds(readFileSync(file, 'utf8'));
    const claims = decodeJwt(jwt);
    const account = sys.hub.setup.accounts.production;
    assert.equal(claims.name, agent.linkGuid);
    assert.equal(claims.iss, account.linkSigningKey);
    assert.equal(claims.nats.issuer_account, account.publicKey);
    // Scoped: no permissions in the JWT; the account's template for the key applies (see the isolation tests).
    assert.equal(claims.nats.pub, undefined);
  });

  await t.test('a query runs through facade, hub and leaf', async () => {
    const res = await sys.production.call(`/integrator/sites/${site.haloGuid}/queries/immediate`, { body: COUNT });
    assert.equal(res.status, 200);
    assert.equal(res.body.status, 'successful');
    assert.deepEqual(resultRows(res.body), [{ n: 50 }]);
    assert.deepEqual(await sys.leafNames('production'), [`link-${agent.linkGuid}`]);
  });

  await t.test('a token works once; garbage, staging tokens and missing fields are refused', async () => {
    const body = (tok: string) => ({ token: tok, publicKey: createUser().getPublicKey() });
    const again = await sys.production.call('/enrol', { body: body(token), key: null });
    assert.equal(again.status, 401);
    assert.equal(again.body.error.code, 'unauthorized');
    assert.equal((await sys.production.call('/enrol', { body: body('x'.repeat(43)), key: null })).status, 401);
    const stagingToken = await sys.staging.enrolmentToken();
    assert.equal((await sys.production.call('/enrol', { body: body(stagingToken), key: null })).status, 401);
    // The staging token still works where it belongs (refusal elsewhere did not consume it).
    const ok = await sys.staging.call('/enrol', { body: body(stagingToken), key: null });
    assert.equal(ok.status, 200);
    assert.equal(ok.body.env, 'staging');
    assert.equal(decodeJwt(ok.body.jwt).name, ok.body.linkGuid);
    assert.equal(decodeJwt(ok.body.jwt).nats.issuer_account, sys.hub.setup.accounts.staging.publicKey);
    assert.equal((await sys.production.call('/enrol', { body: { token: 'short' }, key: null })).status, 400);
  });

  await t.test('enrolment tokens and revocation need a support key', async () => {
    assert.equal((await sys.production.call('/support/enrolment-tokens', { body: {} })).status, 401);
    assert.equal((await sys.production.call(`/support/links/${agent.linkGuid}/revoke`, { body: { reason: 'x' } })).status, 401);
  });

  await t.test('a restart reuses the stored creds (no second enrolment)', async () => {
    const before = readFileSync(join(sys.stateDir('a'), CREDS_FILE), 'utf8');
    await agent.close();
    const again = await sys.startAgent('a', 'production', [{ name: 'a', engine: 'sqlite', path: db, profile: 'sample' }], { token });
    assert.equal(again.linkGuid, agent.linkGuid);
    assert.equal(readFileSync(join(sys.stateDir('a'), CREDS_FILE), 'utf8'), before);
    const res = await sys.production.call(`/integrator/sites/${site.haloGuid}/queries/immediate`, { body: COUNT });
    assert.equal(res.status, 200);
  });
});
