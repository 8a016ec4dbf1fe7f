import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { integratorAuthenticator, TokenBucketLimiter } from '../src/index.ts';
import { AUTH, KEY, testApp } from './fakes.ts';

const sha256 = (key: string) => createHash('sha256').update(key).digest('hex');
const OTHER = 'other-key-0123456789abcdefghijklmnopqrstuvwx';

test('TokenBucketLimiter: burst, then one request per refill; Retry-After rounds up to whole seconds', () => {
  let now = 1_000_000;
  const limiter = new TokenBucketLimiter({ defaultLimit: { perSecond: 2, burst: 3 }, now: () => now });
  assert.deepEqual([limiter.take('a'), limiter.take('a'), limiter.take('a')], [0, 0, 0]);
  assert.equal(limiter.take('a'), 1);
  assert.equal(limiter.take('b'), 0, 'buckets are per key');
  now += 499;
  assert.equal(limiter.take('a'), 1);
  now += 1;
  assert.equal(limiter.take('a'), 0);
  now += 60_000;
  assert.deepEqual([0, 1, 2, 3].map(() => limiter.take('a')), [0, 0, 0, 1], 'refill stops at the burst');
  const slow = new TokenBucketLimiter({ now: () => now });
  assert.equal(slow.take('c', { perSecond: 0.1, burst: 1 }), 0);
  assert.equal(slow.take('c', { perSecond: 0.1, burst: 1 }), 10);
  assert.equal(new TokenBucketLimiter().take('d'), 0, 'no limit: everything passes');
});

test('TokenBucketLimiter with shares: each replica takes 1/N of rate and burst, at least one token of burst', () => {
  let now = 1_000_000;
  let shares = 2;
  const limiter = new TokenBucketLimiter({ defaultLimit: { perSecond: 2, burst: 4 }, now: () => now, shares: () => shares });
  assert.deepEqual([0, 1, 2].map(() => limiter.take('a')), [0, 0, 1], 'burst 4 / 2 replicas');
  now += 999;
  assert.equal(limiter.take('a'), 1, 'rate 2/s / 2 replicas: one token per second');
  now += 1;
  assert.equal(limiter.take('a'), 0);
  shares = 1;
  now += 60_000;
  assert.deepEqual([0, 1, 2, 3, 4].map(() => limiter.take('a')), [0, 0, 0, 0, 1], 'alone again: the whole burst');
  shares = 3;
  assert.equal(limiter.take('b', { perSecond: 1, burst: 1 }), 0, 'a burst below N still admits one');
});

test('over its rate an integrator gets 429 rate_limited with Retry-After; others and unauthenticated callers are unaffected', async (t) => {
  let now = 5_000_000;
  const { app } = testApp({
    auth: integratorAuthenticator([
      { id: 'acme', keyHashes: [sha256(KEY)], rateLimit: { perSecond: 1, burst: 2 } },
      { id: 'globex', keyHashes: [sha256(OTHER)] },
    ]),
    rateLimiter: new TokenBucketLimiter({ defaultLimit: { perSecond: 100, burst: 100 }, now: () => now }),
  });
  t.after(() => app.close());
  const sites = (headers: Record<string, string>) => app.inject({ method: 'GET', url: '/integrator/sites?practiceManagementSiteId=PRAC-1', headers });
  assert.equal((await sites(AUTH)).statusCode, 200);
  // Every request past the key check costs a token, even one to an unknown route.
  assert.equal((await app.inject({ method: 'GET', url: '/integrator/sites/x/queries/y', headers: AUTH })).statusCode, 404);
  const limited = await sites(AUTH);
  assert.equal(limited.statusCode, 429);
  assert.equal(limited.headers['retry-after'], '1');
  assert.deepEqual(limited.json(), { error: { status: 429, statusText: 'Too Many Requests', code: 'rate_limited', message: 'too many requests; retry after 1 s' } });
  assert.equal((await app.inject({ method: 'POST', url: '/integrator/sites/x/queries/immediate', headers: AUTH, payload: '{not json' })).statusCode, 429, 'refused before the body is parsed');
  assert.equal((await sites({ 'ocp-apim-subscription-key': OTHER })).statusCode, 200);
  assert.equal((await sites({})).statusCode, 401);
  now += 1000;
  assert.equal((await sites(AUTH)).statusCode, 200);
});
