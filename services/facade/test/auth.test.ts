import { test } from 'node:test';
import assert from 'node:assert/strict';
import { keyAuthenticator, parseSubscriptionKeys } from '../src/index.ts';

test('keyAuthenticator finds the integrator of a key and rejects everything else', () => {
  const auth = keyAuthenticator([{ integratorId: 'acme', key: 'k-acme' }, { integratorId: 'globex', key: 'k-globex' }]);
  assert.deepEqual(auth.authenticate('k-acme'), { integratorId: 'acme' });
  assert.deepEqual(auth.authenticate('k-globex'), { integratorId: 'globex' });
  assert.equal(auth.authenticate(undefined), null);
  assert.equal(auth.authenticate(''), null);
  assert.equal(auth.authenticate('k-acm'), null);
  assert.equal(auth.authenticate('k-acme '), null);
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
  assert.deepEqual(parseSubscriptionKeys(['acme:k1', ' globex : k:2 ']), [{ integratorId: 'acme', key: 'k1' }, { integratorId: 'globex', key: 'k:2' }]);
  assert.throws(() => parseSubscriptionKeys(['SECRETKEY']), (err: Error) => !err.message.includes('SECRET'));
  assert.throws(() => parseSubscriptionKeys([':SECRETKEY']), (err: Error) => !err.message.includes('SECRET'));
  assert.throws(() => parseSubscriptionKeys(['acme:']));
});
