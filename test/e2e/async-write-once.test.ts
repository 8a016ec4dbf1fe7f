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
  await new Promise((resolve) => setTimeout(resolve, 800)); // the worker has sent it; the agent is writing
  await sys.stopWorker('crash');
  await sys.startWorker();
  const done = await eventually(async () => {
    const status = (await (await sys.call(`/integrator/sites/${siteId}/queries/${id}`)).json()) as Json;
    return ['successful', 'executionFailed', 'expiredInQueue', 'cancelled'].includes(status.status) ? status : undefined;
  }, 30_000);
  assert.equal(done.status, 'executionFailed', JSON.stringify(done));
  assert.equal(done.error.code, 'write_not_retried');
  // The first run's statement finishes at the agent regardless; there is only ever that one.
  await new Promise((resolve) => setTimeout(resolve, 4_000));
  const check = new Database(path, { readonly: true });
  const { n } = check.prepare('SELECT count(*) AS n FROM marks').get() as { n: number };
  check.close();
  assert.equal(n, 1, `the write ran ${n} times`);
});
