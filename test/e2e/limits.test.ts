// The agent's limits, through the real facade: per-site concurrency with a queue (immediate before async),
// time in queue, execution deadline, rows and bytes. Every refusal has its own code.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { ReplyRouter, connectNats, type ResultStream } from '@halo/messaging';
import { eventually, startTestSystem, type TestSystem } from '../support/system.ts';
import { resultRows } from '../support/halo-result.ts';

type ErrorBody = { error: { code: string; status: number } };

/** Counts to n inside SQLite: one row, but seconds of work for large n. */
const slowCount = (n: number) => ({
  command: { text: 'WITH RECURSIVE seq(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM seq WHERE i < @n) SELECT count(*) AS n FROM seq', parameters: [{ name: '@n', type: 'BigInt', value: String(n) }] },
});
const rowsQuery = (n: number) => ({
  command: { text: 'WITH RECURSIVE seq(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM seq WHERE i < @n) SELECT i FROM seq', parameters: [{ name: '@n', type: 'BigInt', value: String(n) }] },
});

function post(sys: TestSystem, siteId: string, body: unknown, signal?: AbortSignal): Promise<Response> {
  return sys.call(`/integrator/sites/${siteId}/queries/immediate`, { method: 'POST', body: JSON.stringify(body), ...(signal ? { signal } : {}) });
}

async function errorCode(res: Response): Promise<[number, string]> {
  return [res.status, ((await res.json()) as ErrorBody).error.code];
}

test('a full site queues; an immediate query that waits past maxTimeInQueue gets 503 queue_timeout', async (t) => {
  const sys = await startTestSystem();
  t.after(() => sys.close());
  const agent = await sys.startAgent('link', [{ name: 'a', engine: 'sqlite', path: sys.sampleDatabase('a', 'L-1'), profile: 'sample', maxConcurrency: 1 }]);
  const siteId = agent.sites[0]!.haloGuid;
  const busy = new AbortController();
  const long = post(sys, siteId, slowCount(1e10), busy.signal).catch(() => undefined);
  await eventually(async () => agent.load().inFlight === 1);
  const queued = await post(sys, siteId, { maxTimeInQueue: 1, ...slowCount(10) });
  assert.deepEqual(await errorCode(queued), [503, 'queue_timeout']);
  busy.abort();
  await long;
  await eventually(async () => agent.load().inFlight === 0);
  assert.equal((await post(sys, siteId, slowCount(10))).status, 200);
});

test('a statement past the execution deadline is stopped with 504 execution_timeout', async (t) => {
  const sys = await startTestSystem();
  t.after(() => sys.close());
  const agent = await sys.startAgent('link', [{ name: 'a', engine: 'sqlite', path: sys.sampleDatabase('a', 'L-2'), profile: 'sample', executionTimeoutSeconds: 1 }]);
  const siteId = agent.sites[0]!.haloGuid;
  assert.deepEqual(await errorCode(await post(sys, siteId, slowCount(1e10))), [504, 'execution_timeout']);
  await eventually(async () => agent.load().inFlight === 0);
  assert.equal((await post(sys, siteId, slowCount(10))).status, 200);
});

test('a statement that needs longer than the stall timeout before its first row succeeds: the agent keeps the stream alive', async (t) => {
  // The stall timer measures a silent agent, not a slow database: 1 s here, and the statement needs seconds.
  const sys = await startTestSystem({ stallMs: 1_000 });
  t.after(() => sys.close());
  const agent = await sys.startAgent('link', [{ name: 'a', engine: 'sqlite', path: sys.sampleDatabase('a', 'L-6'), profile: 'sample' }]);
  const res = await post(sys, agent.sites[0]!.haloGuid, slowCount(25_000_000));
  const body = (await res.json()) as { result?: { records: Array<{ n: number }> }; error?: unknown };
  assert.equal(res.status, 200, JSON.stringify(body.error));
  assert.deepEqual(resultRows(body), [{ n: 25_000_000 }]);
});

test('results over the site row or byte limit are refused with their own codes', async (t) => {
  const sys = await startTestSystem();
  t.after(() => sys.close());
  const agent = await sys.startAgent('link', [
    { name: 'rows', engine: 'sqlite', path: sys.sampleDatabase('rows', 'L-3'), profile: 'sample', maxRows: 100 },
    { name: 'bytes', engine: 'sqlite', path: sys.sampleDatabase('bytes', 'L-4'), profile: 'sample', maxBytes: 10_000 },
  ]);
  const [rowsSite, bytesSite] = [agent.sites[0]!.haloGuid, agent.sites[1]!.haloGuid];
  assert.equal((await post(sys, rowsSite, rowsQuery(100))).status, 200);
  assert.deepEqual(await errorCode(await post(sys, rowsSite, rowsQuery(101))), [413, 'row_limit_exceeded']);
  assert.deepEqual(await errorCode(await post(sys, bytesSite, rowsQuery(5_000))), [413, 'byte_limit_exceeded']);
  await eventually(async () => agent.load().inFlight === 0);
});

test('queued immediate queries go before queued async ones', async (t) => {
  const sys = await startTestSystem();
  t.after(() => sys.close());
  const agent = await sys.startAgent('link', [{ name: 'a', engine: 'sqlite', path: sys.sampleDatabase('a', 'L-5'), profile: 'sample', maxConcurrency: 1 }]);
  const site = agent.sites[0]!;
  const nc = await connectNats({ servers: sys.hub.clientUrl, name: 'requester', log: sys.log });
  const router = new ReplyRouter({ nc, requesterId: 'limitsTest01', log: sys.log });
  t.after(async () => { await router.close(); await nc.close(); });
  const start = (mode: 'immediate' | 'async', body: { command: { text: string; parameters: Array<{ name: string; type: string; value: string }> } }): ResultStream =>
    router.start({ linkGuid: agent.linkGuid }, {
      queryId: randomUUID(), haloGuid: site.haloGuid, mode, deadline: Date.now() + 60_000, maxTimeInQueueMs: 60_000,
      command: { text: body.command.text, type: 'text', executionMode: 'reader', parameters: body.command.parameters.map((p) => ({ ...p, direction: 'input' as const, type: p.type as 'BigInt' })) },
    });
  const finished: string[] = [];
  const run = async (name: string, stream: ResultStream) => {
    for await (const _ of stream) { /* drain */ }
    finished.push(name);
  };
  const blocker = start('immediate', slowCount(1e10));
  const blocked = run('blocker', blocker).catch(() => finished.push('blocker cancelled'));
  await eventually(async () => agent.load().inFlight === 1);
  const asyncFirst = run('async', start('async', slowCount(10)));
  await eventually(async () => agent.load().queued === 1);
  const immediateSecond = run('immediate', start('immediate', slowCount(10)));
  await eventually(async () => agent.load().queued === 2);
  blocker.cancel();
  await Promise.all([blocked, asyncFirst, immediateSecond]);
  assert.deepEqual(finished, ['blocker cancelled', 'immediate', 'async']);
});
