import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assertUsableKeys, keyAuthenticator, mintSubscriptionKey, parseSubscriptionKeys } from '../src/index.ts';

const ACME = mintSubscriptionKey().key;
const GLOBEX = mintSubscriptionKey().key;

test('keyAuthenticator finds the integrator of a key and rejects everything else', () => {
  const auth = keyAuthenticator([{ integratorId: 'acme', key: ACME }, { integratorId: 'globex', key: GLOBEX, pmsTypes: ['bp'] }]);
  assert.deepEqual(auth.authenticate(ACME), { integratorId: 'acme' });
  assert.deepEqual(auth.authenticate(GLOBEX), { integratorId: 'globex', pmsTypes: new Set(['bp']) });
  assert.equal(auth.authenticate(undefined), null);
  assert.equal(auth.authenticate(''), null);
  assert.equal(auth.authenticate(ACME.slice(0, -1)), null);
  assert.equal(auth.authenticate(`${ACME} `), null);
  assert.equal(auth.authenticate('x'.repeat(10_000)), null);
});

test('keyAuthenticator keeps no key in memory it could leak', () => {
  const auth = keyAuthenticator([{ integratorId: 'acme', key: 'KEY-MARKER-123' }]);
  const seen = new Set<unknown>();
  const walk = (value: unknown): string => {
    if (value === null || typeof value !== 'object' || seen.has(value)) return typeof value === 'string' ? value : '';
    seen.add(value);
    return Object.values(value).map(walk).join('|');
  };
  assert.doesNotMatch(walk(auth), /KEY-MARKER/);
  assert.throws(() => keyAuthenticator([{ integratorId: 'acme', key: '' }]));
});

test('parseSubscriptionKeys reads integratorId:key entries without quoting them in errors', () => {
  assert.deepEqual(parseSubscriptionKeys([`acme:${ACME}`, ` globex : ${GLOBEX} `]), [{ integratorId: 'acme', key: ACME }, { integratorId: 'globex', key: GLOBEX }]);
  assert.deepEqual(parseSubscriptionKeys([`acme:${ACME}`], ['sample']), [{ integratorId: 'acme', key: ACME, pmsTypes: ['sample'] }]);
  assert.throws(() => parseSubscriptionKeys(['SECRETKEY']), (err: Error) => !err.message.includes('SECRET'));
  assert.throws(() => parseSubscriptionKeys([':SECRETKEY']), (err: Error) => !err.message.includes('SECRET'));
  assert.throws(() => parseSubscriptionKeys(['acme:']));
});

test('keys under 32 random bytes (base64url) and a third key per integrator are refused at start-up, without quoting keys', () => {
  const weak = ['SECRET-short', 'SECRET:has/other+chars-0123456789abcdefghijklmno', `SECRET${'A'.repeat(36)}`, `SECRET${'A'.repeat(37)}=`, `SECRET${'a'.repeat(39)}`];
  for (const key of weak) {
    assert.throws(() => parseSubscriptionKeys([`acme:${key}`]), (err: Error) => /32 random bytes/.test(err.message) && /integrator acme/.test(err.message) && !err.message.includes('SECRET'), key);
  }
  // 43 characters = 32 bytes: the shortest accepted key.
  assert.doesNotThrow(() => assertUsableKeys([{ integratorId: 'acme', key: 'A'.repeat(43) }]));
  assert.throws(() => assertUsableKeys([{ integratorId: 'acme', key: 'A'.repeat(42) }]));
  const three = [ACME, GLOBEX, mintSubscriptionKey().key].map((key) => ({ integratorId: 'acme', key }));
  assert.doesNotThrow(() => assertUsableKeys(three.slice(0, 2)));
  assert.throws(() => assertUsableKeys(three), /more than 2 subscription keys/);
});
