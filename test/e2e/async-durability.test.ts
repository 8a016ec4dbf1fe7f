// Async queries survive restarts of the facade and the worker, wait for offline sites, and expire in the queue.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { eventually, startAsyncTestSystem, type AsyncTestSystem, type TestAgent } from '../support/async-system.ts';
import { resultRows } from '../support/halo-result.ts';

type Json = Record<string, any>;

const COUNT = 25_000_000;
/** About three seconds of SQLite work, then one row. */
const SLOW = `WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < ${COUNT}) SELECT count(*) AS c FROM n`;
const QUICK = 'SELECT PatNum FROM patient ORDER BY PatNum LIMIT 4';

async function json(res: Response): Promise<Json> {
  return (await res.json()) as Json;
}

async function submit(sys: AsyncTestSystem, siteId: string, body: Json): Promise<string> {
  const res = await sys.call(`/integrator/sites/${siteId}/queries/async`, { method: 'POST', body: JSON.stringify(body) });
  const answer = await json(res);
  assert.equal(res.status, 201, JSON.stringify(answer));
  return answer.id as string;
}

async function state(sys: AsyncTestSystem, siteId: string, id: string): Promise<Json> {
  return json(await sys.call(`/integrator/sites/${siteId}/queries/${id}`));
}

async function waitForState(sys: AsyncTestSystem, siteId: string, id: string, states: string[], timeoutMs = 30_000): Promise<Json> {
  return eventually(async () => {
    const body = await state(sys, siteId, id);
    return states.includes(body.status) ? body : undefined;
  }, timeoutMs, 100);
}

async function firstRows(sys: AsyncTestSystem, siteId: string, id: string): Promise<Json[]> {
  const res = await sys.call(`/integrator/sites/${siteId}/queries/${id}/results/1`);
  assert.equal(res.status, 200);
  return resultRows(await res.json());
}

test('async queries are durable across restarts and offline sites', async (t) => {
  const sys = await startAsyncTestSystem();
  t.after(() => sys.close());
  const path = sys.sampleDatabase('practice-a', 'PMS-DURABLE-1');
  let agent: TestAgent = await sys.startAgent('link-1', [{ name: 'a', path }]);
  const siteId = agent.sites[0]!.haloGuid;
  const restartAgent = async () => {
    agent = await sys.startAgent('link-1', [{ name: 'a', path }]);
    assert.equal(agent.sites[0]!.haloGuid, siteId);
  };

  await t.test("an offline site's query waits in the queue and runs when the agent comes back", async () => {
    await agent.close();
    const id = await submit(sys, siteId, { command: { text: QUICK } });
    await waitForState(sys, siteId, id, ['queued']);
    await new Promise((r) => setTimeout(r, 1_000));
    assert.equal((await state(sys, siteId, id)).status, 'queued');
    await restartAgent();
    const done = await waitForState(sys, siteId, id, ['successful']);
    assert.equal(done.result.rows, 4);
    assert.equal((await firstRows(sys, siteId, id)).length, 4);
  });

  await t.test('a query submitted before a facade restart completes and is read through the new facade', async () => {
    await agent.close();
    const id = await submit(sys, siteId, { command: { text: QUICK } });
    await waitForState(sys, siteId, id, ['queued']);
    await sys.restartFacade();
    await restartAgent();
    const done = await waitForState(sys, siteId, id, ['successful']);
    assert.equal(done.result.rows, 4);
  });

  await t.test('a query queued while no worker runs completes once one starts', async () => {
    await sys.stopWorker('graceful');
    const id = await submit(sys, siteId, { command: { text: QUICK } });
    await new Promise((r) => setTimeout(r, 500));
    assert.equal((await state(sys, siteId, id)).status, 'queued');
    await sys.startWorker();
    await waitForState(sys, siteId, id, ['successful']);
  });

  for (const how of ['graceful', 'crash'] as const) {
    await t.test(`a worker stopped mid-run (${how}) hands the query to the next worker, which re-runs it`, async () => {
      const id = await submit(sys, siteId, { command: { text: SLOW } });
      await waitForState(sys, siteId, id, ['executing']);
      await sys.stopWorker(how);
      assert.equal((await state(sys, siteId, id)).status, 'executing');
      await sys.startWorker();
      const done = await waitForState(sys, siteId, id, ['successful', 'executionFailed'], 60_000);
      assert.equal(done.status, 'successful', JSON.stringify(done.error));
      assert.deepEqual(await firstRows(sys, siteId, id), [{ c: COUNT }]);
    });
  }

  await t.test('a query whose site stays offline past maxTimeInQueue ends expiredInQueue', async () => {
    await agent.close();
    const id = await submit(sys, siteId, { maxTimeInQueue: 2_000, command: { text: QUICK } });
    const expired = await waitForState(sys, siteId, id, ['expiredInQueue', 'successful'], 15_000);
    assert.equal(expired.status, 'expiredInQueue');
    assert.equal(expired.error.code, 'site_offline');
    assert.ok(expired.statusTiming.queued.endTime && expired.completedAt === expired.statusTiming.queued.endTime);
    assert.equal((await sys.call(`/integrator/sites/${siteId}/queries/${id}/results/1`)).status, 409);
    await restartAgent();
    await new Promise((r) => setTimeout(r, 500));
    assert.equal((await state(sys, siteId, id)).status, 'expiredInQueue');
  });
});
