// The async-query resources against a real nats-server: record compare-and-set, stream and consumer set-up.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { jetstreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { ASYNC_NAMES, AsyncQueryRecord } from '@halo/contracts';
import { createLogger } from '@halo/log';
import { connectNats, type NatsConnection } from '@halo/messaging';
import { cleanupStack, launchHub, queuedAsyncRecord, type HasAfter } from '@halo/testkit';
import { AsyncRecords, isRevisionConflict, openAsyncResources, openWorkConsumer, withState } from '../src/index.ts';

async function hubConnection(t: HasAfter): Promise<NatsConnection> {
  const defer = cleanupStack(t);
  const hub = await launchHub();
  defer(() => hub.close());
  const nc = await connectNats({ servers: hub.clientUrl, name: 'async-queries-test', log: createLogger({ name: 'async-queries-test', level: 'silent' }) });
  defer(() => nc.close());
  return nc;
}

test('AsyncRecords: transition never leaves a terminal state; a lost compare-and-set (told by its code) is retried', async (t) => {
  const nc = await hubConnection(t);
  const store = await openAsyncResources(nc, { replicas: 1, resultTtlMs: 60_000 });
  const records = new AsyncRecords(store.records);
  const r = queuedAsyncRecord();
  await store.records.create(r.id, JSON.stringify(r));

  // A KV whose first update loses a race: someone (a facade) writes just before it.
  let raced = false;
  const racing = new Proxy(store.records, {
    get(target, prop, receiver) {
      if (prop !== 'update') return Reflect.get(target, prop, receiver) as unknown;
      return async (key: string, data: string, revision: number) => {
        if (!raced) {
          raced = true;
          const current = AsyncQueryRecord.parse((await target.get(key))!.json());
          await target.put(key, JSON.stringify({ ...current, attempts: 5 }));
        }
        return target.update(key, data, revision);
      };
    },
  });
  const racy = new AsyncRecords(racing);
  let calls = 0;
  const moved = await racy.transition(r.id, (current) => {
    calls++;
    return { ...withState(current, 'executing'), attempts: current.attempts + 1 };
  });
  assert.equal(calls, 2);
  assert.equal(moved?.attempts, 6);
  const stored = await records.get(r.id);
  assert.equal(stored?.record.state, 'executing');
  assert.equal(stored?.record.attempts, 6);

  await store.records.put(r.id, JSON.stringify(withState(r, 'cancelled')));
  assert.equal(await records.transition(r.id, (current) => withState(current, 'successful')), null);
  assert.equal((await records.get(r.id))!.record.state, 'cancelled');
  assert.equal(await records.transition(randomUUID(), (current) => current), null);
});


test('a stale revision fails with a conflict told by its error code, which update() retries and nothing else does', async (t) => {
  const nc = await hubConnection(t);
  const { records } = await openAsyncResources(nc, { replicas: 1, resultTtlMs: 60_000 });
  const revision = await records.create('k1', 'a');
  await records.put('k1', 'b');
  const conflict = await records.update('k1', 'c', revision).then(() => null, (err: unknown) => err);
  assert.ok(isRevisionConflict(conflict), `a stale revision is a conflict: ${String(conflict)}`);
  assert.ok(!isRevisionConflict(new Error('wrong last sequence: 3')), 'a message that merely looks like one is not');
});

test('facades and workers open the same stream, bucket and consumer whichever starts first', async (t) => {
  const nc = await hubConnection(t);
  await openAsyncResources(nc, { replicas: 1, resultTtlMs: 60_000 });
  await openAsyncResources(nc, { replicas: 1, resultTtlMs: 60_000 });
  await openWorkConsumer(nc, 5_000);
  await openWorkConsumer(nc, 7_000);
  const jsm = await jetstreamManager(nc);
  const stream = await jsm.streams.info(ASYNC_NAMES.workStream);
  assert.equal(stream.config.retention, 'workqueue');
  const consumer = await jsm.consumers.info(ASYNC_NAMES.workStream, ASYNC_NAMES.workConsumer);
  assert.equal(consumer.config.ack_wait, 7_000 * 1_000_000, 'an existing consumer takes the newest ack wait');
});

test('record reads go to the stream leader, never to a direct get a follower may answer, also on a bucket made by an older version', async (t) => {
  const nc = await hubConnection(t);
  // An older version made the bucket with direct gets allowed (the client's default).
  await new Kvm(nc).create(ASYNC_NAMES.queries, { history: 1 });
  const store = await openAsyncResources(nc, { replicas: 1, resultTtlMs: 60_000 });
  const seen: string[] = [];
  const spy = nc.subscribe('$JS.API.>', {
    callback: (_err, msg) => {
      seen.push(msg.subject);
    },
  });
  t.after(() => spy.unsubscribe());
  await nc.flush();
  const r = queuedAsyncRecord();
  await store.records.create(r.id, JSON.stringify(r));
  const records = new AsyncRecords(store.records);
  assert.equal((await records.get(r.id))?.record.id, r.id);
  assert.equal(await records.get(randomUUID()), null);
  await nc.flush();
  assert.ok(seen.some((s) => s === `$JS.API.STREAM.MSG.GET.KV_${ASYNC_NAMES.queries}`), `no read went to the leader: ${JSON.stringify(seen)}`);
  assert.deepEqual(seen.filter((s) => s.startsWith('$JS.API.DIRECT.GET.')), [], 'a read was a direct get');
});
