// A nonQuery is never run twice, not even when the worker running it dies: JetStream redelivers the job after
// the ack wait, and the next worker must not send the write again.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { eventually, startAsyncTestSystem } from '../support/async-system.ts';

type Json = Record<string, any>;

/** A write that takes about three seconds of SQLite work. */
const SLOW_WRITE = 'INSERT INTO marks (n) SELECT count(*) FROM (WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 25000000) SELECT x FROM c)';

test('a write whose worker dies mid-run is not run again by the next worker', async (t) => {
  const sys = await startAsyncTestSystem();
  t.after(() => sys.close());
  const path = sys.sampleDatabase('practice-w', 'PMS-WRITE-1');
  const db = new Database(path);
  db.exec('CREATE TABLE marks (n INTEGER)');
  db.close();
  const agent = await sys.startAgentProcess('link-1', [{ name: 'w', path, allowWrites: true }]);
  const siteId = agent.sites[0]!.haloGuid;
  const res = await sys.call(`/integrator/sites/${siteId}/queries/async`, { method: 'POST', body: JSON.stringify({ command: { text: SLOW_WRITE, executionMode: 'nonQuery' } }) });
  assert.equal(res.status, 201);
  const { id } = (await res.json()) as Json;
  // Crash the worker once the agent is writing (it holds SQLite's write lock), not after a guessed delay: a crash
  // before the send is a different case (the write was never sent, so it runs once on the next worker).
  await eventually(async () => agentIsWriting(path), 20_000, 20);
  await sys.stopWorker('crash');
  await sys.startWorker();
  const done = await eventually(async () => {
    const status = (await (await sys.call(`/integrator/sites/${siteId}/queries/${id}`)).json()) as Json;
    return ['successful', 'executionFailed', 'expiredInQueue', 'cancelled'].includes(status.status) ? status : undefined;
  }, 30_000);
  assert.equal(done.status, 'executionFailed', JSON.stringify(done));
  assert.equal(done.error.code, 'write_not_retried');
  // The first run's statement finishes at the agent regardless (on a slow machine well after the status says
  // failed, so this waits for it rather than a fixed time); there is only ever that one, and no other follows it.
  await eventually(async () => (marks(path) >= 1 ? true : undefined), 60_000);
  await new Promise((resolve) => setTimeout(resolve, 1_000));
  assert.equal(agentIsWriting(path), undefined, 'no second write runs after the first');
  const n = marks(path);
  assert.equal(n, 1, `the write ran ${n} times`);
});

/** Rows the write has put in `marks` (committed ones only). */
function marks(path: string): number {
  const check = new Database(path, { readonly: true });
  try {
    return (check.prepare('SELECT count(*) AS n FROM marks').get() as { n: number }).n;
  } finally {
    check.close();
  }
}

/** True while another connection holds the database's write lock (BEGIN IMMEDIATE is refused at once). */
function agentIsWriting(path: string): true | undefined {
  const probe = new Database(path, { timeout: 0 });
  try {
    probe.exec('BEGIN IMMEDIATE');
    probe.exec('ROLLBACK');
    return undefined;
  } catch (err) {
    if ((err as { code?: string }).code === 'SQLITE_BUSY') return true;
    throw err;
  } finally {
    probe.close();
  }
}
