// Registered queries: run on schedule by two workers (one killed midway), each tick recorded exactly once, the
// schedule surviving restarts of the facade, the workers and the agent, and ending at `duration`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { eventually, startAsyncTestSystem, OTHER_KEY, type AsyncTestSystem } from '../support/async-system.ts';
import { recordedTicks, startScheduler, type WorkerPart } from '../support/registered-workers.ts';

type Json = Record<string, any>;
const QUERY = 'SELECT PatNum, LName FROM patient WHERE PatNum <= 2 ORDER BY PatNum';

async function json(res: Response): Promise<Json> {
  return (await res.json()) as Json;
}

async function register(sys: AsyncTestSystem, siteId: string, body: Json): Promise<string> {
  const res = await sys.call(`/integrator/sites/${siteId}/queries/registered`, { method: 'POST', body: JSON.stringify(body) });
  const answer = await json(res);
  assert.equal(res.status, 202, JSON.stringify(answer));
  assert.deepEqual(Object.keys(answer), ['id']);
  return answer.id as string;
}

async function status(sys: AsyncTestSystem, siteId: string, id: string): Promise<Json> {
  const res = await sys.call(`/integrator/sites/${siteId}/queries/registered/${id}`);
  assert.equal(res.status, 200);
  return json(res);
}

function waitFor(sys: AsyncTestSystem, siteId: string, id: string, done: (s: Json) => boolean, timeoutMs = 60_000): Promise<Json> {
  return eventually(async () => {
    const s = await status(sys, siteId, id);
    return done(s) ? s : undefined;
  }, timeoutMs, 100);
}

/**
 * Every tick 0..last was recorded exactly once, in order. A tick whose turn passed while no worker could take it
 * (its worker killed, every worker restarting) is skipped rather than run late back to back; skips are counted.
 */
function assertEachTickOnce(ticks: ReadonlyArray<{ tick: number; skipped: number }>, last: number): void {
  const numbers = ticks.map((t) => t.tick);
  const skipped = ticks.reduce((sum, t) => sum + t.skipped, 0);
  assert.equal(new Set(numbers).size, numbers.length, `a tick was recorded twice: ${numbers.join(',')}`);
  assert.deepEqual([...numbers].sort((a, b) => a - b), numbers, 'ticks were recorded out of order');
  assert.equal(numbers.at(-1), last);
  assert.equal(numbers.length + skipped, last + 1);
}

test('registered queries', async (t) => {
  const sys = await startAsyncTestSystem({ startWorker: false, facade: { registered: { minFrequencySeconds: 1 } } });
  const parts: WorkerPart[] = [];
  t.after(async () => {
    for (const p of parts) await p.stop('graceful');
    await sys.close();
  });
  const path = sys.sampleDatabase('practice-r', 'PMS-REGISTERED-1');
  let agent = await sys.startAgent('link-r', [{ name: 'a', path }]);
  const siteId = agent.sites[0]!.haloGuid;
  const body = (frequency: number, duration: number): Json => ({ name: 'patients', registeredQueryType: 'query', frequency, duration, registerCommand: { command: { text: QUERY } } });

  await t.test('bad registrations are refused with 400 and a code; unknown sites with 404', async () => {
    for (const bad of [
      { ...body(2, 10), frequency: 0 },
      { ...body(2, 86_401) },
      { ...body(2, 10), registeredQueryType: 'stream' },
      { ...body(2, 10), registerCommand: {} },
    ]) {
      const res = await sys.call(`/integrator/sites/${siteId}/queries/registered`, { method: 'POST', body: JSON.stringify(bad) });
      const answer = await json(res);
      assert.equal(res.status, 400, JSON.stringify(answer));
      assert.equal(answer.error.code, 'bad_request');
    }
    const unknown = await sys.call('/integrator/sites/00000000-0000-4000-8000-000000000000/queries/registered', { method: 'POST', body: JSON.stringify(body(2, 10)) });
    assert.equal(unknown.status, 404);
  });

  await t.test('two workers share the schedule; one is killed; every tick is recorded once and the query ends at duration', async () => {
    const a = await startScheduler(sys.hub, 'scheduler-a');
    const b = await startScheduler(sys.hub, 'scheduler-b');
    parts.push(a, b);
    const id = await register(sys, siteId, body(2, 12));
    const listed = await json(await sys.call(`/integrator/sites/${siteId}/queries/registered`));
    assert.deepEqual(listed.registeredQueries.map((q: Json) => q.id), [id]);
    assert.equal(listed.registeredQueries[0].status, 'enabled');
    // Another integrator sees none of it.
    const other = await sys.call(`/integrator/sites/${siteId}/queries/registered/${id}`, { key: OTHER_KEY });
    assert.equal(other.status, 404);

    await waitFor(sys, siteId, id, (s) => s.metrics.executionSucceededCount >= 2);
    await a.stop('crash');
    const first = await status(sys, siteId, id);
    assert.equal(first.status, 'enabled');
    // The data changes midway: the hash changes with it, once.
    const db = new Database(path);
    db.prepare("UPDATE patient SET LName = 'Changed' WHERE PatNum = 1").run();
    db.close();

    const done = await waitFor(sys, siteId, id, (s) => s.status === 'completed');
    const ticks = recordedTicks([a, b], id);
    assertEachTickOnce(ticks, 6);
    assert.equal(done.metrics.executionFailedCount, 0);
    assert.equal(done.metrics.executionSucceededCount, ticks.length);
    assert.ok(ticks.some((tk) => tk.by === 'scheduler-b'), 'the surviving worker ran ticks');
    assert.equal(ticks.filter((tk) => tk.changed).length, 2, 'the hash changed at the first run and when the data changed');
    assert.notEqual(done.lastHash, first.lastHash);
    assert.ok(done.completedAt);
    assert.equal(done.metrics.resultSizeSum > 0, true);
    assert.equal(done.metrics.requestSize, JSON.stringify({ command: { text: QUERY, type: 'text', executionMode: 'reader', parameters: [] } }).length);

    const result = await json(await sys.call(`/integrator/sites/${siteId}/queries/registered/${id}/results`));
    assert.deepEqual(Object.keys(result).sort(), ['data', 'parameters', 'rows', 'size']);
    const rows = JSON.parse(Buffer.from(result.data, 'base64').toString('utf8')) as Json[];
    assert.deepEqual(rows.map((r) => r.PatNum), [1, 2]);
    assert.equal(rows[0]!.LName, 'Changed');
    assert.equal(result.rows, 2);
    assert.equal(result.size, Buffer.from(result.data, 'base64').length);
    assert.equal(result.parameters, null);
    // Ended: no longer listed as active, and no tick after the last.
    const after = await json(await sys.call(`/integrator/sites/${siteId}/queries/registered`));
    assert.deepEqual(after.registeredQueries, []);
    await new Promise((r) => setTimeout(r, 2_500));
    assert.equal(recordedTicks([a, b], id).length, ticks.length);
    await b.stop('graceful');
  });

  await t.test('a worker killed in the middle of a run: the tick runs again on the other and is recorded once', async () => {
    const a = await startScheduler(sys.hub, 'scheduler-x');
    const b = await startScheduler(sys.hub, 'scheduler-y');
    parts.push(a, b);
    // About a second of SQLite work per run, so the kill lands inside one.
    const slow = 'WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 8000000) SELECT count(*) AS c FROM n';
    const id = await register(sys, siteId, { ...body(3, 9), registerCommand: { command: { text: slow } } });
    const running = (p: WorkerPart, tick: number) => p.lines.some((l) => l.msg === 'registered query tick running' && l.registeredId === id && l.tick === tick);
    const victim = await eventually(async () => [a, b].find((p) => running(p, 1)), 30_000, 5);
    await victim.stop('crash');
    const survivor = victim === a ? b : a;
    assert.equal(recordedTicks([victim], id).some((tk) => tk.tick === 1), false, 'the kill came before tick 1 was recorded');
    const done = await waitFor(sys, siteId, id, (s) => s.status === 'completed');
    const ticks = recordedTicks([a, b], id);
    assertEachTickOnce(ticks, 3);
    assert.equal(ticks.find((tk) => tk.tick === 1)?.by, survivor.name, 'the survivor ran the tick the killed worker held');
    assert.equal(done.metrics.executionSucceededCount, ticks.length);
    await survivor.stop('graceful');
  });

  await t.test('the schedule survives restarts of the facade, the worker and the agent', async () => {
    let s = await startScheduler(sys.hub, 'scheduler-c');
    parts.push(s);
    const id = await register(sys, siteId, body(2, 14));
    const all: WorkerPart[] = [s];
    await waitFor(sys, siteId, id, (x) => x.metrics.executionSucceededCount >= 1);
    await s.stop('crash');
    await sys.restartFacade();
    await agent.close();
    agent = await sys.startAgent('link-r', [{ name: 'a', path }]);
    s = await startScheduler(sys.hub, 'scheduler-d');
    parts.push(s);
    all.push(s);
    const done = await waitFor(sys, siteId, id, (x) => x.status === 'completed');
    const ticks = recordedTicks(all, id);
    // A tick that found the agent restarting failed and is counted; either way each tick is recorded once.
    assertEachTickOnce(ticks, 7);
    assert.equal(done.metrics.executionSucceededCount + done.metrics.executionFailedCount, ticks.length);
    await s.stop('graceful');
  });

  await t.test('DELETE cancels: 204, no run after it, and a second DELETE is 409', async () => {
    const s = await startScheduler(sys.hub, 'scheduler-e');
    parts.push(s);
    const id = await register(sys, siteId, body(1, 600));
    await waitFor(sys, siteId, id, (x) => x.metrics.executionSucceededCount >= 1);
    const del = await sys.call(`/integrator/sites/${siteId}/queries/registered/${id}`, { method: 'DELETE' });
    assert.equal(del.status, 204);
    assert.equal(await del.text(), '');
    const cancelled = await status(sys, siteId, id);
    assert.equal(cancelled.status, 'cancelled');
    const count = recordedTicks([s], id).length;
    await new Promise((r) => setTimeout(r, 3_000));
    assert.equal(recordedTicks([s], id).length, count);
    const again = await sys.call(`/integrator/sites/${siteId}/queries/registered/${id}`, { method: 'DELETE' });
    assert.equal(again.status, 409);
    assert.equal((await json(again)).error.code, 'query_finished');
    await s.stop('graceful');
  });
});
