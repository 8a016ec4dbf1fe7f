// JetStream leader elections on a real 3-node cluster with R3 streams: the stream leader is killed (SIGKILL)
// while requests run, and every request still succeeds, because the stores retry "no responders / no leader /
// not enough replicas" (and timeouts where a second attempt is safe) within their deadline instead of failing.
// Nothing here measures time: each request must simply end well.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { jetstreamManager } from '@nats-io/jetstream';
import { createLogger } from '@halo/log';
import { connectNats, retryJetStream, type NatsConnection } from '@halo/messaging';
import { eventually } from '../support/system.ts';
import { launchCluster, queuedAsyncRecord, type RunningCluster } from '@halo/testkit';
import { RegistryStore } from '@halo/registry-data';
import { NatsAsyncQueryStore } from '@halo/facade';
import { ASYNC_NAMES, type AsyncJob, type SiteRecord } from '@halo/contracts';

const log = createLogger({ name: 'test', level: 'silent' });
/** Longer than any election here; the point is that requests wait for the new leader, not how fast it comes. */
const BUDGET_MS = 60_000;
/** Requests that must succeed after the leader was killed. */
const AFTER_KILL = 15;

/** The test's own JetStream API calls ride out the election too. */
const settled = <T>(operation: () => Promise<T>) => retryJetStream(operation, { deadline: Date.now() + BUDGET_MS, timeouts: true });

async function leaderIndex(nc: NatsConnection, stream: string): Promise<number> {
  const info = await settled(async () => (await jetstreamManager(nc)).streams.info(stream));
  const leader = info.cluster?.leader ?? '';
  const m = /-n(\d+)$/.exec(leader);
  assert.ok(m, `stream ${stream} has a leader (${leader})`);
  return Number(m[1]);
}

/**
 * Runs `request` one after another (i = 0, 1, ...) while, after the first few, the stream's leader node is killed;
 * resolves once AFTER_KILL more succeeded after the kill. Any failure fails the test.
 */
async function throughLeaderKill(cluster: RunningCluster, nc: NatsConnection, stream: string, request: (i: number) => Promise<void>): Promise<{ killed: number; total: number }> {
  const killed = await leaderIndex(nc, stream);
  let i = 0;
  for (; i < 3; i++) await request(i);
  const kill = cluster.kill(killed);
  let afterKill = 0;
  for (; afterKill < AFTER_KILL; i++, afterKill++) await request(i);
  await kill;
  return { killed, total: i };
}

test('registry buckets and the facade async store keep answering while the stream leader dies', { timeout: 240_000 }, async (t) => {
  const cluster = await launchCluster({ size: 3 });
  t.after(() => cluster.close());
  // Every node's URL: the client fails over when its own node is the one killed.
  const nc = await connectNats({ servers: [...cluster.clientUrls], name: 'failover-test', log });
  t.after(() => nc.close());

  await t.test('registry store (libs/registry-data): puts and reads of KV_sites', async () => {
    const store = await RegistryStore.open(nc, 3, { retryBudgetMs: BUDGET_MS });
    const site = (i: number): SiteRecord => ({
      pmsType: 'sample', pmsId: `FAILOVER-${i}`, practiceName: 'Failover', databaseIdentity: 'sqlite:failover.db', catalogues: [],
      linkGuid: randomUUID(), env: 'production', status: 'active', haloLinkVersion: '1.0.0', createdAt: new Date().toISOString(), updatedAt: new Date().toISOString(),
    });
    const written = new Map<string, SiteRecord>();
    const { killed, total } = await throughLeaderKill(cluster, nc, 'KV_sites', async (i) => {
      const haloGuid = randomUUID();
      const record = site(i);
      await store.updateSite(haloGuid, record);
      written.set(haloGuid, record);
      // The read succeeds too; it may come from a follower that has not applied the write yet (checked below).
      await store.getSite(haloGuid);
    });
    assert.equal(written.size, total);
    assert.notEqual(await leaderIndex(nc, 'KV_sites'), killed, 'a new leader was elected');
    // Every write acknowledged through the failover is kept.
    for (const [haloGuid, record] of written) {
      await eventually(async () => (await store.getSite(haloGuid))?.value.pmsId === record.pmsId);
    }
    await cluster.restart(killed);
    await cluster.waitForJetStream();
  });

  await t.test('facade async store (libs/async-queries): submits (record + work queue) and reads', async () => {
    const store = await NatsAsyncQueryStore.open({ nc, replicas: 3, resultTtlMs: 60_000, retryBudgetMs: BUDGET_MS });
    const ids: string[] = [];
    const { total } = await throughLeaderKill(cluster, nc, `KV_${ASYNC_NAMES.queries}`, async () => {
      const record = queuedAsyncRecord({ state: 'initialising' });
      const job: AsyncJob = {
        queryId: record.id, integratorId: record.integratorId, haloGuid: record.siteId, command: { text: 'SELECT 1', type: 'text', executionMode: 'reader', parameters: [] },
        submittedAt: record.createdAt, queueDeadline: record.queueDeadline,
      };
      const queued = await store.submit(record, job);
      assert.equal(queued.state, 'queued');
      await store.get(record.id);
      ids.push(record.id);
    });
    assert.equal(ids.length, total);
    for (const id of ids) await eventually(async () => (await store.get(id))?.state === 'queued');
    // Every submitted query is in the work queue exactly once (publishes retried after a timeout are deduplicated).
    const info = await settled(async () => (await jetstreamManager(nc)).streams.info(ASYNC_NAMES.workStream));
    assert.equal(info.state.messages, total);
  });
});
