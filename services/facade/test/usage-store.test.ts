// The usage store against a real hub: entries are held back briefly and written as one key per integrator, and
// read back one by one, with keys written one entry each (before batching) still read.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { jetstreamManager } from '@nats-io/jetstream';
import { createLogger } from '@halo/log';
import { connectNats } from '@halo/messaging';
import { launchHub } from '@halo/testkit';
import { NatsUsageStore, USAGE_BUCKET, type UsageEntry } from '../src/usage/usage-store.ts';

const log = createLogger({ name: 'usage-store-test', level: 'silent' });

const entry = (integratorId: string, at: number, status = 200): UsageEntry => ({ at, integratorId, route: 'POST /integrator/sites/:siteId/queries/immediate', status, durationMs: 1.5, bytes: 10 });

/** A hub of its own, a connection to it and the store on it, all closed after the test. */
async function openStore(t: TestContext) {
  const hub = await launchHub();
  t.after(() => hub.close());
  const nc = await connectNats({ servers: hub.clientUrl, name: 'usage-store-test', log });
  t.after(() => nc.close());
  return { nc, store: await NatsUsageStore.open(nc) };
}

test('usage entries: one key per integrator per batch, each entry read back, old single-entry keys too', async (t) => {
  const { nc, store } = await openStore(t);
  // Stamped a second ahead of the hub's clock, as by a facade whose clock runs ahead: the stream's own times are
  // then earlier than the entries', and a read must still find them by their `at`.
  const now = Date.now() + 1000;
  // A key as written before entries were batched: one entry object.
  nc.publish(`$KV.${USAGE_BUCKET}.q.${Buffer.from('acme').toString('hex')}.old`, JSON.stringify(entry('acme', now - 5)));
  for (let i = 0; i < 3; i++) await store.record(entry('acme', now + i, 200 + i));
  await store.record(entry('other', now));
  store.flush();
  await nc.flush();
  const info = await (await jetstreamManager(nc)).streams.info(`KV_${USAGE_BUCKET}`);
  assert.equal(info.state.messages, 3, 'the old key, then one key for acme\'s three entries and one for other\'s');
  const acme = await store.read('acme', now - 60_000);
  assert.deepEqual(acme.map((e) => e.status), [200, 200, 201, 202]);
  assert.deepEqual((await store.read('other', now - 60_000)).map((e) => e.integratorId), ['other']);
  assert.deepEqual((await store.read('acme', now + 1)).map((e) => e.status), [201, 202], 'entries older than asked for are left out, even inside a batch');
  // A batch under acme's key holding another integrator's entry: acme's read never shows it.
  nc.publish(`$KV.${USAGE_BUCKET}.q.${Buffer.from('acme').toString('hex')}.mixed`, JSON.stringify([entry('other', now + 10, 299), entry('acme', now + 10, 298)]));
  await nc.flush();
  assert.deepEqual((await store.read('acme', now + 5)).map((e) => e.status), [298]);
});

test('usage entries held back are written by the timer without a flush', async (t) => {
  const { store } = await openStore(t);
  const now = Date.now();
  await store.record(entry('acme', now));
  let read: UsageEntry[] = [];
  for (let i = 0; i < 50 && read.length === 0; i++) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    read = await store.read('acme', now - 1);
  }
  assert.equal(read.length, 1);
});
