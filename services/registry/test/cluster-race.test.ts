// Authority races on a real 3-node nats-server cluster with R3 buckets and three registry replicas, one per node.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  AppError, LookupResult, RegisterResult, SupportMoveResult, isAppError, subjects, type RegisterRequest, type SupportMoveRequest,
} from '@halo/contracts';
import { createLogger } from '@halo/log';
import { connectNats, requestJson, type NatsConnection } from '@halo/messaging';
import { cleanupStack, launchCluster, type RunningCluster } from '@halo/testkit';
import { startRegistry, type Registry } from '@halo/registry';

const log = createLogger({ name: 'test', level: 'silent' });
const REGISTRANTS = 50;
const ROUNDS = 100;
/** Rounds in flight at once: enough to keep every replica busy, few enough for 2 shared cores. */
const BATCH = 5;

interface Replica {
  nc: NatsConnection;
  registry: Registry;
}

let cluster: RunningCluster;
/** Registry replica i runs on node i. */
const replicas: Replica[] = [];
/** Requesters, one per node: a queue group prefers subscribers on the publisher's node, so this spreads the load. */
const clients: NatsConnection[] = [];
const defer = cleanupStack({ after });
/** Registrations that needed more than one attempt (reported, not asserted: agents retry too). */
let retried = 0;
/** Lookups that had not caught up with a write yet (reported: KV reads may come from a follower). */
let staleLookups = 0;
/** Lookups refused while the cluster was losing a node (reported). */
let failedLookups = 0;
/** Registrations each replica answered, counted from its log lines: proof the races span replicas. */
const served = [0, 0, 0];

/** A replica's logger: info lines into a counter (a real stream), nothing printed. */
function replicaLog(i: number) {
  const destination = new Writable({
    write(chunk: Buffer, _enc, done) {
      served[i]! += chunk.toString('utf8').split('"msg":"site registered"').length - 1;
      done();
    },
  });
  return createLogger({ name: `registry-${i}`, level: 'info', destination });
}

async function startReplica(i: number): Promise<Replica> {
  const nc = await connectNats({ servers: cluster.clientUrls[i]!, name: `registry-${i}`, log });
  defer(() => nc.close());
  const registry = await startRegistry({ nc, log: replicaLog(i), env: 'production', replicas: 3 });
  defer(() => registry.close());
  return { nc, registry };
}

before(async () => {
  cluster = await launchCluster({ size: 3 });
  defer(() => cluster.close());
  // The first replica creates the R3 buckets; the others open them.
  for (let i = 0; i < 3; i++) {
    replicas.push(await startReplica(i));
    const client = await connectNats({ servers: cluster.clientUrls[i]!, name: `client-${i}`, log });
    defer(() => client.close());
    clients.push(client);
  }
});

function registration(pmsId: string): RegisterRequest {
  const haloGuid = randomUUID();
  return {
    linkGuid: randomUUID(),
    env: 'production',
    version: 'test',
    sites: [{ haloGuid, pmsType: 'sample', pmsId, practiceName: 'Practice', databaseIdentity: `sqlite:/${haloGuid}.db`, catalogues: [{ name: 'main', isDefault: true }] }],
  };
}

/** What a client retries: the registry or its buckets briefly unavailable (a node lost, a leader being elected). */
const RETRYABLE = ['registry_unavailable', 'deadline_exceeded', 'internal'];

function retryable(err: unknown): boolean {
  return isAppError(err) && RETRYABLE.includes(err.code);
}

/** Registers as an agent does: a lost request (replica gone, leader election) is retried, the same request again. */
async function register(client: NatsConnection, request: RegisterRequest, timeoutMs = 10_000): Promise<boolean> {
  const until = Date.now() + 45_000;
  for (let attempt = 0; ; attempt++) {
    try {
      const result = await requestJson(client, subjects.linkRegistry('register', request.linkGuid), request, RegisterResult, { timeoutMs, noResponders: 'registry_unavailable' });
      if (attempt > 0) retried++;
      const site = result.sites[0];
      assert.ok(site && site.haloGuid === request.sites[0]!.haloGuid);
      return site.authoritative;
    } catch (err) {
      if (!retryable(err) || Date.now() > until) throw err;
      await sleep(Math.min(1_000, 50 * 2 ** attempt));
    }
  }
}

async function lookup(pmsId: string): Promise<LookupResult['sites']> {
  return (await requestJson(clients[0]!, subjects.registry('lookup'), { pmsId }, LookupResult, { timeoutMs: 10_000, noResponders: 'registry_unavailable' })).sites;
}

/**
 * Waits for lookups to agree that `expected` is the one authoritative site of `count`. KV reads may be served by
 * a follower a moment behind the write's quorum, and a lookup may fail while a node is lost, so agreement is
 * awaited; what must never show is two authoritative sites.
 */
async function settledAuthority(pmsId: string, expected: string, count: number): Promise<void> {
  const until = Date.now() + 20_000;
  for (;;) {
    let sites: LookupResult['sites'];
    try {
      sites = await lookup(pmsId);
    } catch (err) {
      if (!retryable(err) || Date.now() > until) throw err;
      failedLookups++;
      await sleep(200);
      continue;
    }
    const authoritative = sites.filter((s) => s.authoritative).map((s) => s.haloGuid);
    assert.ok(authoritative.length <= 1, `${pmsId}: ${authoritative.length} authoritative sites`);
    if (sites.length === count && authoritative[0] === expected) return;
    staleLookups++;
    if (Date.now() > until) assert.fail(`${pmsId}: lookup shows ${sites.length} sites, authoritative ${authoritative.join() || 'none'}, expected ${expected}`);
    await sleep(50);
  }
}

/** One round: REGISTRANTS links register the same fresh PMS ID at once, through every node. */
async function round(pmsId: string, onProgress?: (done: number) => void): Promise<void> {
  const requests = Array.from({ length: REGISTRANTS }, () => registration(pmsId));
  let done = 0;
  const results = await Promise.all(requests.map(async (r, k) => {
    const authoritative = await register(clients[k % clients.length]!, r, onProgress ? 3_000 : 10_000);
    onProgress?.(++done);
    return authoritative;
  }));
  const winners = requests.filter((_, k) => results[k]);
  assert.equal(winners.length, 1, `${pmsId}: ${winners.length} registrations were told they are authoritative`);
  await settledAuthority(pmsId, winners[0]!.sites[0]!.haloGuid, REGISTRANTS);
}

test(`${REGISTRANTS} concurrent registrations of one PMS ID across 3 replicas, ${ROUNDS} times: exactly one authoritative`, async (t) => {
  const started = Date.now();
  for (let r = 0; r < ROUNDS; r += BATCH) {
    await Promise.all(Array.from({ length: Math.min(BATCH, ROUNDS - r) }, (_, b) => round(`RACE-${r + b}`)));
  }
  t.diagnostic(`${ROUNDS * REGISTRANTS} registrations in ${Date.now() - started} ms; ${retried} retried; replicas served ${served.join(' / ')}; ${staleLookups} lookups behind`);
  for (const [i, n] of served.entries()) assert.ok(n > ROUNDS, `replica ${i} served only ${n} registrations`);
});

test('support authority moves racing each other and new registrations: one move per epoch, one authoritative', async (t) => {
  const move = (client: NatsConnection, request: SupportMoveRequest) =>
    requestJson(client, subjects.registry('support.move'), request, SupportMoveResult, { timeoutMs: 10_000, noResponders: 'registry_unavailable' });
  // Moves refused by the compare-and-set itself (not by the epoch check before it): the race was real.
  let casLost = 0;
  for (let r = 0; r < 5; r++) {
    const pmsId = `SWITCH-${r}`;
    const holder = registration(pmsId);
    assert.equal(await register(clients[0]!, holder), true);
    const candidates = Array.from({ length: 6 }, () => registration(pmsId));
    for (const c of candidates) assert.equal(await register(clients[1]!, c), false);
    const targets = candidates.map((c) => c.sites[0]!.haloGuid);

    // Moves that all saw epoch 1, through every replica, while 30 new links register and the holder restarts.
    const newcomers = Array.from({ length: 30 }, () => registration(pmsId));
    const [moves, joined] = await Promise.all([
      Promise.allSettled(targets.map((to, k) => move(clients[k % 3]!, { pmsType: 'sample', pmsId, to, reason: 'race test', by: 'tester', expectedEpoch: 1 }))),
      Promise.all([...newcomers, holder].map((n, k) => register(clients[k % 3]!, n))),
    ]);
    const won = moves.flatMap((m) => (m.status === 'fulfilled' ? [m.value] : []));
    assert.equal(won.length, 1, `${pmsId}: ${won.length} moves from epoch 1 succeeded`);
    for (const m of moves) if (m.status === 'rejected') assert.equal((m.reason as AppError).code, 'conflict', (m.reason as AppError).message);
    casLost += moves.filter((m) => m.status === 'rejected' && /changed while/.test((m.reason as AppError).message)).length;
    assert.equal(won[0]!.audit.epoch, 2);
    assert.ok(joined.slice(0, newcomers.length).every((a) => !a), 'a newcomer became authoritative');
    const winner = won[0]!.practice.authoritative;
    assert.ok(targets.includes(winner));
    await settledAuthority(pmsId, winner, 1 + candidates.length + newcomers.length);

    // Moves without an expected epoch may each succeed in turn, but never two at the same epoch (no lost update).
    const free = await Promise.allSettled(targets.filter((g) => g !== winner).map((to, k) =>
      move(clients[k % 3]!, { pmsType: 'sample', pmsId, to, reason: 'race test', by: 'tester' })));
    // The epoch each move wrote is in its audit entry; its `practice` is read afterwards and may show a later move.
    const applied = free.flatMap((m) => (m.status === 'fulfilled' ? [{ epoch: m.value.audit.epoch ?? -1, to: m.value.audit.to ?? '' }] : []));
    for (const m of free) if (m.status === 'rejected') assert.equal((m.reason as AppError).code, 'conflict', (m.reason as AppError).message);
    casLost += free.filter((m) => m.status === 'rejected').length;
    assert.ok(applied.length >= 1);
    const epochs = applied.map((p) => p.epoch).sort((a, b) => a - b);
    assert.deepEqual(epochs, applied.map((_, k) => 3 + k), `${pmsId}: epochs ${epochs.join()}`);
    const last = applied.find((p) => p.epoch === epochs.at(-1))!;
    await settledAuthority(pmsId, last.to, 1 + candidates.length + newcomers.length);
  }
  t.diagnostic(`${casLost} moves lost the compare-and-set; ${staleLookups} lookups behind so far`);
});

test('a registry replica and its node killed in the middle of a round: still exactly one authoritative', async (t) => {
  const started = Date.now();
  let killed: Promise<void> | undefined;
  await round('KILL-0', (done) => {
    if (done !== 10) return;
    // The machine of replica 2 dies: its nats-server is SIGKILLed and the registry process with it.
    killed = (async () => {
      await cluster.kill(2);
      await replicas[2]!.nc.close();
    })();
  });
  await killed;
  // Two of three nodes keep the R3 buckets' quorum: rounds go on.
  await round('KILL-1');
  t.diagnostic(`rounds with a dead node: ${Date.now() - started} ms; ${retried} registrations retried, ${failedLookups} lookups refused so far`);

  await cluster.restart(2);
  replicas[2] = await startReplica(2);
  await round('KILL-2');
  await settledAuthority('KILL-0', (await lookup('KILL-0')).find((s) => s.authoritative)!.haloGuid, REGISTRANTS);
});
