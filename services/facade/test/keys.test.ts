import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { integratorAuthenticator, KEY_BYTES, mintSubscriptionKey, parseIntegrators } from '../src/index.ts';
import { AUTH, KEY, QUERY_URL, queryBody, SITE_ID, siteView, testApp } from './fakes.ts';

const sha256 = (key: string) => createHash('sha256').update(key).digest('hex');

test('mintSubscriptionKey: 32 fresh random bytes, base64url, and the SHA-256 of the key text', () => {
  const a = mintSubscriptionKey();
  const b = mintSubscriptionKey();
  assert.notEqual(a.key, b.key);
  assert.match(a.key, /^[A-Za-z0-9_-]{43}$/);
  assert.equal(Buffer.from(a.key, 'base64url').length, KEY_BYTES);
  assert.equal(a.keyHash, sha256(a.key));
});

test('npm run keys:new prints a key, its hash and a file entry', async () => {
  const script = fileURLToPath(new URL('../src/integrator-keys-main.ts', import.meta.url));
  const { stdout } = await promisify(execFile)(process.execPath, [script, 'acme', 'sample,bp']);
  const key = /subscription key[^:]*: (\S+)/.exec(stdout)?.[1];
  const hash = /sha256[^:]*: ([0-9a-f]{64})/.exec(stdout)?.[1];
  assert.ok(key && hash);
  assert.equal(hash, sha256(key));
  const entry = /entry: (.+)$/m.exec(stdout)?.[1];
  assert.ok(entry);
  assert.deepEqual(parseIntegrators(`[${entry}]`), [{ id: 'acme', env: 'production', keyHashes: [hash], pmsTypes: ['sample', 'bp'] }]);
});

test('parseIntegrators: at most two key hashes, unique ids and hashes, errors name paths only', () => {
  const [k1, k2, k3] = [mintSubscriptionKey(), mintSubscriptionKey(), mintSubscriptionKey()];
  const ok = parseIntegrators(JSON.stringify([
    { id: 'acme', env: 'production', keyHashes: [k1.keyHash, k2.keyHash], pmsTypes: ['sample'], rateLimit: { perSecond: 5, burst: 10 } },
  ]));
  assert.equal(ok.length, 1);
  const bad: Array<[unknown, RegExp]> = [
    [[{ id: 'acme', env: 'production', keyHashes: [k1.keyHash, k2.keyHash, k3.keyHash], pmsTypes: [] }], /0\.keyHashes/],
    [[{ id: 'acme', env: 'production', keyHashes: [], pmsTypes: [] }], /0\.keyHashes/],
    [[{ id: 'acme', env: 'production', keyHashes: [k1.key], pmsTypes: [] }], /0\.keyHashes\.0/],
    [[{ id: 'acme', env: 'prod', keyHashes: [k1.keyHash], pmsTypes: [] }], /0\.env/],
    [[{ id: 'acme', env: 'production', keyHashes: [k1.keyHash], pmsTypes: ['Best Practice'] }], /0\.pmsTypes\.0/],
    [[{ id: 'acme', env: 'production', keyHashes: [k1.keyHash], pmsTypes: [], extra: 1 }], /\(root\)|0/],
    [[{ id: 'a', env: 'production', keyHashes: [k1.keyHash], pmsTypes: [] }, { id: 'a', env: 'staging', keyHashes: [k2.keyHash], pmsTypes: [] }], /1\.id: integrator id appears twice/],
    [[{ id: 'a', env: 'production', keyHashes: [k1.keyHash], pmsTypes: [] }, { id: 'b', env: 'staging', keyHashes: [k1.keyHash], pmsTypes: [] }], /1\.keyHashes\.0: key hash appears twice/],
  ];
  for (const [file, where] of bad) {
    assert.throws(() => parseIntegrators(JSON.stringify(file)), (err: Error) => where.test(err.message) && !err.message.includes(k1.key), JSON.stringify(file));
  }
  assert.throws(() => parseIntegrators('{nope'), /not valid JSON/);
});

test('two active keys per integrator: either works during a rotation, the retired one stops', () => {
  const [old, next] = [mintSubscriptionKey(), mintSubscriptionKey()];
  const during = integratorAuthenticator([{ id: 'acme', keyHashes: [old.keyHash, next.keyHash], pmsTypes: ['sample'] }]);
  assert.equal(during.authenticate(old.key)?.integratorId, 'acme');
  assert.equal(during.authenticate(next.key)?.integratorId, 'acme');
  assert.equal(during.authenticate(old.keyHash), null, 'the hash is not a key');
  const after = integratorAuthenticator([{ id: 'acme', keyHashes: [next.keyHash], pmsTypes: ['sample'] }]);
  assert.equal(after.authenticate(old.key), null);
  assert.equal(after.authenticate(next.key)?.integratorId, 'acme');
});

test('onboarding: sites and queries of a PMS type the integrator is not onboarded for answer 403 not_onboarded', async (t) => {
  const bp = '33333333-3333-4333-8333-333333333333';
  const { app, directory, queries } = testApp({
    auth: integratorAuthenticator([{ id: 'acme', keyHashes: [sha256(KEY)], pmsTypes: ['sample'] }]),
  });
  t.after(() => app.close());
  directory.sites.push(siteView({ haloGuid: bp, pmsType: 'bp', practiceName: 'BP Surgery' }));
  const get = (url: string) => app.inject({ method: 'GET', url, headers: AUTH });

  const sample = await get('/integrator/sites?practiceManagementSiteId=PRAC-1&practiceManagementName=sample');
  assert.equal(sample.statusCode, 200);
  assert.equal(sample.json().sites.length, 1);
  for (const name of ['bp', 'Best%20Practice']) {
    const refused = await get(`/integrator/sites?practiceManagementSiteId=PRAC-1&practiceManagementName=${name}`);
    assert.equal(refused.statusCode, 403);
    assert.deepEqual(refused.json().error.code, 'not_onboarded');
  }
  // Without a PMS type, sites of other types are simply not shown.
  const all = await get('/integrator/sites?practiceManagementSiteId=PRAC-1');
  assert.deepEqual(all.json().sites.map((s: { id: string }) => s.id), [SITE_ID]);

  const query = (siteId: string, kind = 'immediate') => app.inject({ method: 'POST', url: `/integrator/sites/${siteId}/queries/${kind}`, headers: AUTH, payload: queryBody() });
  assert.equal((await query(SITE_ID)).statusCode, 200);
  const refused = await query(bp);
  assert.equal(refused.statusCode, 403);
  assert.deepEqual(refused.json(), { error: { status: 403, statusText: 'Forbidden', code: 'not_onboarded', message: 'the integrator is not onboarded for practice management system "bp"' } });
  assert.equal(queries.calls.length, 1, 'the refused query never left the facade');
  assert.equal(QUERY_URL.includes(SITE_ID), true);
});
