// Async queries and a slow, a killed or a frozen agent. The stall timer (1 s here) measures a silent agent, not
// a slow database: a statement that needs seconds before its first row succeeds. A read whose agent is lost
// (killed, frozen) runs again when the site is back, a bounded number of times, each lost run recorded; a
// nonQuery is never run twice.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { eventually, startAsyncTestSystem, type AsyncTestSystem, type ProcessAgent } from '../support/async-system.ts';
import { resultRows } from '../support/halo-result.ts';

type Json = Record<string, any>;

const STALL_MS = 1_000;
const MAX_ATTEMPTS = 3;
const COUNT = 25_000_000;
/** About three seconds of SQLite work before its only row: three stall timeouts. */
const SLOW = `WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < ${COUNT}) SELECT count(*) AS c FROM n`;
const MARK = 'INSERT INTO lost_marks (at) VALUES (1)';

async function json(res: Response): Promise<Json> {
  return (await res.json()) as Json;
}

async function submit(sys: AsyncTestSystem, siteId: string, command: Json): Promise<string> {
  const res = await sys.call(`/integrator/sites/${siteId}/queries/async`, { method: 'POST', body: JSON.stringify({ command }) });
  const answer = await json(res);
  assert.equal(res.status, 201, JSON.stringify(answer));
  return answer.id as string;
}

async function waitFor(sys: AsyncTestSystem, siteId: string, id: string, done: (status: Json) => boolean, timeoutMs = 30_000): Promise<Json> {
  return eventually(async () => {
    const body = await json(await sys.call(`/integrator/sites/${siteId}/queries/${id}`));
    return done(body) ? body : undefined;
  }, timeoutMs, 100);
}

const ended = (s: Json) => ['successful', 'executionFailed', 'expiredInQueue', 'uploadFailed', 'cancelled'].includes(s.status);

async function firstPage(sys: AsyncTestSystem, siteId: string, id: string): Promise<Json[]> {
  const res = await sys.call(`/integrator/sites/${siteId}/queries/${id}/results/1`);
  assert.equal(res.status, 200);
  return resultRows(await res.json());
}

test('async queries with a slow, a killed and a frozen agent', async (t) => {
  const sys = await startAsyncTestSystem({ worker: { stallMs: STALL_MS, maxAttempts: MAX_ATTEMPTS } });
  t.after(() => sys.close());
  const path = sys.sampleDatabase('practice-a', 'PMS-LOST-1');
  const db = new Database(path);
  db.exec('CREATE TABLE lost_marks (at INTEGER)');
  db.close();
  const databases = [{ name: 'a', path, allowWrites: true }];
  let agent: ProcessAgent = await sys.startAgentProcess('link-1', databases);
  const siteId = agent.sites[0]!.haloGuid;

  await t.test('a statement that needs several stall timeouts before its first row succeeds, with no lost run', async () => {
    const id = await submit(sys, siteId, { text: SLOW });
    const done = await waitFor(sys, siteId, id, ended);
    assert.equal(done.status, 'successful', JSON.stringify(done.error));
    assert.equal(done.failedAttempts, undefined);
    assert.deepEqual(await firstPage(sys, siteId, id), [{ c: COUNT }]);
  });

  await t.test('a killed agent: agent_lost, and the read runs again once the agent is back', async () => {
    const id = await submit(sys, siteId, { text: SLOW });
    await waitFor(sys, siteId, id, (s) => s.status === 'executing' || ended(s));
    agent.signal('SIGKILL');
    const lost = await waitFor(sys, siteId, id, (s) => s.failedAttempts?.length > 0 || ended(s));
    assert.equal(lost.status, 'queued', JSON.stringify(lost));
    assert.deepEqual(lost.failedAttempts.map((a: Json) => [a.attempt, a.code]), [[1, 'agent_lost']]);
    await agent.close();
    agent = await sys.startAgentProcess('link-1', databases);
    const done = await waitFor(sys, siteId, id, ended);
    assert.equal(done.status, 'successful', JSON.stringify(done.error));
    assert.deepEqual(done.failedAttempts.map((a: Json) => [a.attempt, a.code]), [[1, 'agent_lost']]);
    assert.deepEqual(await firstPage(sys, siteId, id), [{ c: COUNT }]);
  });

  await t.test('a frozen agent: agent_lost, and the read runs again once the agent thaws', async () => {
    const id = await submit(sys, siteId, { text: SLOW });
    await waitFor(sys, siteId, id, (s) => s.status === 'executing' || ended(s));
    agent.signal('SIGSTOP');
    const lost = await waitFor(sys, siteId, id, (s) => s.failedAttempts?.length > 0 || ended(s));
    agent.signal('SIGCONT');
    assert.notEqual(lost.status, 'executionFailed', JSON.stringify(lost));
    const done = await waitFor(sys, siteId, id, ended);
    assert.equal(done.status, 'successful', JSON.stringify(done.error));
    // The run sent while the agent was still frozen may be lost too; every lost run is numbered in order.
    const attempts = done.failedAttempts as Json[];
    assert.ok(attempts.length >= 1 && attempts.length < MAX_ATTEMPTS, JSON.stringify(attempts));
    assert.deepEqual(attempts.map((a) => [a.attempt, a.code]), attempts.map((_, i) => [i + 1, 'agent_lost']));
    assert.deepEqual(await firstPage(sys, siteId, id), [{ c: COUNT }]);
  });

  await t.test('an agent frozen for good: a read ends after maxAttempts lost runs, a nonQuery after its one run', async () => {
    agent.signal('SIGSTOP');
    const read = await submit(sys, siteId, { text: SLOW });
    const write = await submit(sys, siteId, { text: MARK, executionMode: 'nonQuery' });
    const failedRead = await waitFor(sys, siteId, read, ended);
    assert.equal(failedRead.status, 'executionFailed');
    assert.equal(failedRead.error.code, 'agent_lost');
    assert.deepEqual(failedRead.failedAttempts.map((a: Json) => [a.attempt, a.code]), [[1, 'agent_lost'], [2, 'agent_lost'], [3, 'agent_lost']]);
    const failedWrite = await waitFor(sys, siteId, write, ended);
    assert.equal(failedWrite.status, 'executionFailed');
    assert.equal(failedWrite.error.code, 'write_not_retried');
    assert.deepEqual(failedWrite.failedAttempts.map((a: Json) => [a.attempt, a.code]), [[1, 'agent_lost']]);
    // Thawed, the agent finds the one run of the write it was sent (and its cancel): the write ran at most once.
    agent.signal('SIGCONT');
    const probe = await submit(sys, siteId, { text: 'SELECT 1 AS one' });
    assert.equal((await waitFor(sys, siteId, probe, ended)).status, 'successful');
    const marks = new Database(path, { readonly: true });
    const { n } = marks.prepare('SELECT count(*) AS n FROM lost_marks').get() as { n: number };
    marks.close();
    assert.ok(n <= 1, `the nonQuery ran ${n} times`);
    assert.equal((await waitFor(sys, siteId, write, ended)).error.code, 'write_not_retried');
  });
});
