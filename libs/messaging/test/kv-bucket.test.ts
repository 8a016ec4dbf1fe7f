// openBucket and bindBucket against real servers. On a 3-node cluster a write is read at once from the followers'
// nodes: nats.js's own direct gets miss some (reported, not asserted: how many depends on timing), openBucket's
// never. And every read is a leader get, never a direct get, also on an older bucket made with direct gets allowed
// (asserted exactly: this is the test that fails for certain if openBucket read by direct get).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { jetstreamManager } from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import { createLogger } from '@halo/log';
import { cleanupStack, launchCluster, launchHub } from '@halo/testkit';
import { bindBucket, connectNats, openBucket, type NatsConnection } from '../src/index.ts';

const log = createLogger({ name: 'test', level: 'silent' });
/** Writes read back at once. nats.js's direct gets missed 1 in 60 to 1 in 300 of them on these machines. */
const WRITES = 1500;

test('on a 3-node cluster, a write acknowledged on one node is read at once from the others', async (t) => {
  const defer = cleanupStack(t);
  const cluster = await launchCluster();
  defer(() => cluster.close());
  const ncs: NatsConnection[] = [];
  for (const [i, servers] of cluster.clientUrls.entries()) {
    const nc = await connectNats({ servers, name: `kv-bucket-${i}`, log });
    defer(() => nc.close());
    ncs.push(nc);
  }
  const ours: KV[] = [];
  // What nats.js does by itself with the same bucket: direct gets, which any replica answers.
  const direct: KV[] = [];
  for (const nc of ncs) {
    ours.push(await openBucket(nc, 'fresh_reads', { replicas: 3, history: 1 }));
    direct.push(await new Kvm(nc).create('fresh_reads', { replicas: 3, history: 1 }));
  }

  // Written through the stream leader's node and read at once from both followers' nodes, where a direct get is
  // answered by the follower on that node; the same for both kinds of bucket, one after the other.
  const leaderName = (await (await jetstreamManager(ncs[0]!)).streams.info('KV_fresh_reads')).cluster?.leader;
  const leader = ncs.findIndex((nc) => nc.info?.server_name === leaderName);
  assert.ok(leader >= 0, `no node is the stream's leader ${leaderName}`);
  const followers = [0, 1, 2].filter((i) => i !== leader);
  const misses = async (buckets: KV[], prefix: string) => {
    let missed = 0;
    for (let i = 0; i < WRITES; i++) {
      await buckets[leader]!.put(`${prefix}${i}`, String(i));
      const reads = await Promise.all(followers.map((f) => buckets[f]!.get(`${prefix}${i}`)));
      missed += reads.filter((entry) => entry?.string() !== String(i)).length;
    }
    return missed;
  };
  const directMissed = await misses(direct, 'direct');
  const missed = await misses(ours, 'ours');
  t.diagnostic(`${WRITES} writes, each read at once from both followers' nodes: nats.js's direct gets missed ${directMissed}, openBucket's gets ${missed}`);
  assert.equal(missed, 0, 'a read from another node missed an acknowledged write');
});

test('an older bucket made with direct gets allowed is read from its leader, and keeps direct gets for listings', async (t) => {
  const defer = cleanupStack(t);
  const hub = await launchHub();
  defer(() => hub.close());
  const nc = await connectNats({ servers: hub.clientUrl, name: 'kv-bucket', log });
  defer(() => nc.close());
  // An older version made the bucket through nats.js, which allows direct gets.
  await new Kvm(nc).create('older', { history: 1 });
  const opened = await openBucket(nc, 'older', { history: 1 });
  const bound = await bindBucket(nc, 'older');
  const seen: string[] = [];
  const spy = nc.subscribe('$JS.API.>', { callback: (_err, msg) => void seen.push(msg.subject) });
  defer(() => spy.unsubscribe());
  await nc.flush();

  const read = async (kv: KV) => {
    await kv.put('key', 'value');
    assert.equal((await kv.get('key'))?.string(), 'value');
    assert.equal(await kv.get('missing'), null);
  };
  await read(opened);
  await read(bound);
  await nc.flush();
  assert.equal(seen.filter((s) => s === '$JS.API.STREAM.MSG.GET.KV_older').length, 4, `reads: ${JSON.stringify(seen)}`);
  assert.deepEqual(seen.filter((s) => s.startsWith('$JS.API.DIRECT.GET.')), [], 'a read was a direct get');

  const created = await openBucket(nc, 'created_here', { history: 1 });
  await read(created);
  const jsm = await jetstreamManager(nc);
  for (const stream of ['KV_older', 'KV_created_here']) {
    assert.equal((await jsm.streams.info(stream)).config.allow_direct, true, `${stream} no longer allows the direct gets listings use`);
  }
});
