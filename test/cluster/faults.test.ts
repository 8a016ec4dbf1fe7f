// Fault tolerance on the production topology (`npm run cluster`: 3 TLS hub nodes, 2 registries, 2 workers,
// 2 facades behind haproxy, 2 agents), one cluster shared by the cases in turn. Each case runs under a steady load
// of immediate queries through haproxy and a batch of async queries, injects its fault, and prints what integrators
// saw (failures, recovery time, slowest answer). Asserted: nothing hangs past its deadline, every failure is an
// answer, the load succeeds again afterwards, every async query ends successful, no immediate query fails in a
// rolling lame-duck restart or in a registry/worker kill, and after a hub node's SIGKILL the queries sent once the
// issue's 10 s have passed all succeed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { facadeClient, startCluster, type ClusterProcess, type RunningCluster } from '@halo/demo';
import { immediateQuery, settleAsync, siteLookup, steady, submitAsync, summarise, type Outcome } from './load.ts';

const has = (command: string) => spawnSync('sh', ['-c', `command -v ${command}`]).status === 0;
const skip = has('haproxy') ? false : 'haproxy is not installed (.ci/run installs it with deploy/install/apt-tools.sh)';

function one(cluster: RunningCluster, name: string): ClusterProcess {
  const p = cluster.processes().find((x) => x.name === name);
  assert.ok(p, `no process ${name}`);
  return p;
}

/** The hub node (by monitoring port) holding a client connection named `name`, or a leaf whose server name is `leaf`. */
async function nodeHolding(cluster: RunningCluster, what: { connection?: string; leaf?: string }): Promise<ClusterProcess | undefined> {
  for (const node of cluster.processes().filter((p) => p.role === 'hub')) {
    const base = `http://127.0.0.1:${node.ports.monitor}`;
    if (what.connection) {
      const connz = (await (await fetch(`${base}/connz?limit=1024`)).json()) as { connections?: Array<{ name?: string }> };
      if (connz.connections?.some((c) => c.name === what.connection)) return node;
    }
    if (what.leaf) {
      const leafz = (await (await fetch(`${base}/leafz`)).json()) as { leafs?: Array<{ name?: string }> };
      if (leafz.leafs?.some((l) => l.name === what.leaf)) return node;
    }
  }
  return undefined;
}

async function healthy(node: ClusterProcess): Promise<boolean> {
  return fetch(`http://127.0.0.1:${node.ports.monitor}/healthz`, { signal: AbortSignal.timeout(2_000) }).then((r) => r.ok, () => false);
}

async function until<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await fn().catch(() => undefined);
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(200);
  }
}

/** Every failure was an answer or a cut connection, never a request left hanging past its deadline. */
function assertNoHang(outcomes: readonly Outcome[]): void {
  const hung = outcomes.filter((o) => o.hung);
  assert.equal(hung.length, 0, `${hung.length} requests hung past their deadline`);
}

/** The load works again: the last `n` requests all succeeded. */
function assertRecovered(outcomes: readonly Outcome[], n = 10): void {
  const tail = outcomes.slice(-n);
  assert.ok(tail.length === n && tail.every((o) => o.ok), `the last ${n} requests did not all succeed: ${JSON.stringify(tail.filter((o) => !o.ok).map((o) => o.error))}`);
}

test('cluster fault tolerance under load', { skip, timeout: 900_000 }, async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'halo-cluster-faults-'));
  const cluster = await startCluster({
    dataDir, httpPort: 0, workerAckWaitMs: 3_000,
    restart: { delayMs: 500, maxDelayMs: 2_000, burst: 20 },
    progress: (m) => t.diagnostic(m),
  });
  t.after(async () => {
    await cluster.close();
    // HALO_KEEP_TEST_DIR=1 keeps the services' logs (<dataDir>/logs) to read after a failure.
    if (process.env.HALO_KEEP_TEST_DIR) t.diagnostic(`kept ${dataDir}`);
    else rmSync(dataDir, { recursive: true, force: true });
  });
  const call = facadeClient(cluster.facadeUrl, readFileSync(cluster.caFile));
  const key = cluster.subscriptionKey;
  const site = cluster.sites.find((s) => s.authoritative && s.pmsId === 'SAMPLE-2002')!;
  const practiceA = cluster.sites.find((s) => s.authoritative && s.pmsId === 'SAMPLE-1001')!;
  const agent1 = JSON.parse(readFileSync(join(dataDir, 'agents', 'link-1', 'state.json'), 'utf8')) as { linkGuid: string };
  const figures: string[] = [];
  t.after(() => {
    process.stdout.write(`\ncluster fault figures (immediate queries through haproxy):\n${figures.map((f) => `  ${f}`).join('\n')}\n`);
  });

  /** Load and an async batch around `fault`; returns the immediate outcomes and when the fault came. */
  const underLoad = async (name: string, fault: () => Promise<void>, options: { afterMs?: number; lookups?: boolean } = {}) => {
    const load = steady(3, options.lookups ? siteLookup(call, key, site.pmsId) : immediateQuery(call, key, site.haloGuid));
    const lookups = options.lookups ? undefined : steady(1, siteLookup(call, key, site.pmsId));
    // On practice A: practice B's slots (maxConcurrency per database) stay free for the immediate load.
    const batch = await submitAsync(call, key, practiceA.haloGuid, 12);
    await sleep(1_500);
    const faultAt = Date.now();
    await fault();
    await sleep(options.afterMs ?? 12_000);
    const outcomes = await load.stop();
    await lookups?.stop();
    const states = await settleAsync(call, key, practiceA.haloGuid, batch);
    figures.push(summarise(name, outcomes, faultAt));
    const notDone = [...states].filter(([, s]) => s !== 'successful');
    assert.deepEqual(notDone, [], `async queries that did not end successful: ${JSON.stringify(notDone)}`);
    assertNoHang(outcomes);
    assertRecovered(outcomes);
    return { outcomes, faultAt };
  };

  await t.test('SIGKILL one facade behind haproxy: new requests go to the other, in-flight ones fail cleanly', async () => {
    const victim = one(cluster, 'facade-1');
    // Slow queries in flight on both facades when one dies: those on the dead one end with an error, not a hang.
    // On practice A, so they do not hold the slots (maxConcurrency per database) the steady load on practice B needs.
    const slow = Array.from({ length: 6 }, () => call(`/integrator/sites/${practiceA.haloGuid}/queries/immediate`, {
      body: { command: { text: 'WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 6000000) SELECT count(*) AS c FROM n' } },
      headers: { 'Ocp-Apim-Subscription-Key': key }, timeoutMs: 45_000,
    }).then((r) => ({ status: r.status }), (err: unknown) => ({ error: String(err) })));
    const { outcomes, faultAt } = await underLoad('SIGKILL facade-1', async () => {
      await sleep(500);
      process.kill(victim.pid, 'SIGKILL');
    });
    const inflight = await Promise.all(slow);
    t.diagnostic(`slow queries in flight at the kill: ${JSON.stringify(inflight)}`);
    // Each ended: success (on the live facade) or an error answer / cut connection (on the dead one).
    assert.ok(inflight.every((r) => 'error' in r || r.status === 200 || r.status >= 500), JSON.stringify(inflight));
    // Requests sent once haproxy has seen the death (health checks: fall 2 x inter 1 s) all go to the other facade;
    // before that a request may already be on its way to the dead one (and fail cleanly: 502 or a cut connection).
    const after = outcomes.filter((o) => o.startedAt > faultAt + 2_500);
    assert.ok(after.every((o) => o.ok), `new requests after the kill failed: ${JSON.stringify(after.filter((o) => !o.ok).map((o) => o.error))}`);
    await until('facade-1 back', async () => one(cluster, 'facade-1').pid !== victim.pid);
  });

  await t.test('SIGKILL one registry and one worker: no failed lookup, every async query completes', async () => {
    const registry = one(cluster, 'registry-1');
    const worker = one(cluster, 'worker-1');
    const { outcomes } = await underLoad('SIGKILL registry-1 + worker-1 (site lookups)', async () => {
      process.kill(registry.pid, 'SIGKILL');
      process.kill(worker.pid, 'SIGKILL');
    }, { lookups: true });
    assert.deepEqual(outcomes.filter((o) => !o.ok).map((o) => o.error), []);
    await until('registry-1 and worker-1 back', async () => one(cluster, 'registry-1').pid !== registry.pid && one(cluster, 'worker-1').pid !== worker.pid);
  });

  await t.test('SIGKILL the hub node the facade and an agent are connected to: queries recover, no async query lost', async () => {
    const agentNode = await until('agent-1 leaf on a node', () => nodeHolding(cluster, { leaf: `link-${agent1.linkGuid}` }));
    const facadeNode = await nodeHolding(cluster, { connection: 'halo-facade' });
    t.diagnostic(`agent-1's leaf is on ${agentNode.name}; a facade is on ${facadeNode?.name ?? 'none found'}`);
    const { outcomes, faultAt } = await underLoad(`SIGKILL ${agentNode.name} (agent-1's leaf${facadeNode?.name === agentNode.name ? ' and a facade' : ''})`, async () => {
      process.kill(agentNode.pid, 'SIGKILL');
    }, { afterMs: 15_000 });
    // The issue's bound: immediate queries recover within 10 s of the kill (a read lost with the node is sent again).
    const late = outcomes.filter((o) => o.startedAt > faultAt + 10_000 && !o.ok);
    assert.deepEqual(late.map((o) => o.error), [], 'queries sent 10 s after the kill failed');
    await until(`${agentNode.name} healthy again`, async () => one(cluster, agentNode.name).pid !== agentNode.pid && healthy(one(cluster, agentNode.name)));
  });

  await t.test('rolling restart of all three hub nodes by lame duck: no failed immediate query', async () => {
    const { outcomes } = await underLoad('rolling lame-duck restart of 3 hub nodes', async () => {
      for (const name of ['halo-hub-1', 'halo-hub-2', 'halo-hub-3']) {
        const node = one(cluster, name);
        process.kill(node.pid, 'SIGUSR2');
        await until(`${name} restarted`, async () => one(cluster, name).pid !== node.pid, 90_000);
        await until(`${name} healthy`, () => healthy(one(cluster, name)), 60_000);
      }
    }, { afterMs: 3_000 });
    assert.deepEqual(outcomes.filter((o) => !o.ok).map((o) => o.error), []);
  });

  // All three nodes listen on 127.0.0.1 of one network namespace, so one node's routes cannot be cut without
  // cutting the others'. A partition needs that node in its own namespace with its own address (ip netns, a veth
  // pair, --node-host per node), which startCluster does not set up yet.
  await t.test('a partition of one hub node (routes blocked in a network namespace)', { skip: 'startCluster runs every node in one network namespace on 127.0.0.1; see the comment above' }, () => undefined);
});
