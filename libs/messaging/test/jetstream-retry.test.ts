// retryJetStream against a real server: "no responders" (what a stream without a leader answers) is retried until
// a responder appears or the deadline passes; other errors, and timeouts unless allowed, end it at once.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createLogger } from '@halo/log';
import { launchHub } from '@halo/testkit';
import { connectNats, isLeaderElectionError, retryJetStream, retrying } from '../src/index.ts';

const log = createLogger({ name: 'test', level: 'silent' });

test('no responders is retried until a responder appears; other errors are not', async (t) => {
  const hub = await launchHub();
  t.after(() => hub.close());
  const nc = await connectNats({ servers: hub.clientUrl, name: 'retry-test', log });
  t.after(() => nc.close());

  let attempts = 0;
  const answer = await retryJetStream(async () => {
    attempts++;
    // The "leader" comes back after the second refusal.
    if (attempts === 3) nc.subscribe('retry.test', { callback: (_e, m) => { m.respond('ok'); } });
    await nc.flush();
    return (await nc.request('retry.test', '', { timeout: 2000 })).string();
  }, { deadline: Date.now() + 60_000, baseDelayMs: 1 });
  assert.equal(answer, 'ok');
  assert.equal(attempts, 3);

  const refused = await nc.request('nobody.here', '', { timeout: 2000 }).catch((e: unknown) => e);
  assert.ok(isLeaderElectionError(refused), 'no responders counts as a leader election');
  assert.equal(isLeaderElectionError(new TypeError('bug')), false);

  let bugs = 0;
  await assert.rejects(retryJetStream(async () => { bugs++; throw new TypeError('bug'); }, { deadline: Date.now() + 60_000 }), TypeError);
  assert.equal(bugs, 1);

  // The deadline ends it with the last error.
  let tries = 0;
  const last = await retryJetStream(() => { tries++; return nc.request('nobody.here', '', { timeout: 2000 }); }, { deadline: Date.now() + 300, baseDelayMs: 20, maxDelayMs: 40 }).catch((e: unknown) => e);
  assert.ok(isLeaderElectionError(last));
  assert.ok(tries >= 1);

  // A timeout only where a second attempt is safe.
  nc.subscribe('silent', { callback: () => undefined });
  await nc.flush();
  let timedOut = 0;
  await assert.rejects(retryJetStream(() => { timedOut++; return nc.request('silent', '', { timeout: 50 }); }, { deadline: Date.now() + 60_000 }));
  assert.equal(timedOut, 1);
  assert.ok(isLeaderElectionError(await nc.request('silent', '', { timeout: 50 }).catch((e: unknown) => e), { timeouts: true }));
});

test('retrying(): every promise method retried within the budget, pass-through ones untouched', async () => {
  let calls = 0;
  const noResponders = Object.assign(new Error('503'), { code: '503' });
  const target = {
    async get() {
      calls++;
      if (calls < 3) throw noResponders;
      return 'value';
    },
    async watch() {
      throw noResponders;
    },
    sync: () => 42,
  };
  const wrapped = retrying(target, { budgetMs: 60_000, passThrough: ['watch'] });
  assert.equal(await wrapped.get(), 'value');
  assert.equal(calls, 3);
  await assert.rejects(wrapped.watch(), /503/);
  assert.equal(wrapped.sync(), 42);
});
