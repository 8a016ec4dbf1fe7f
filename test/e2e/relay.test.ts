// One integrator query end to end: HTTP -> facade -> hub -> leaf -> agent -> SQLite -> back, all real.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import Database from 'better-sqlite3';
import { eventually, startTestSystem, type TestSystem } from '../support/system.ts';
import { resultRows } from '../support/halo-result.ts';

type Json = Record<string, any>;

async function json(res: Response): Promise<Json> {
  return (await res.json()) as Json;
}

function appointmentsQuery(patNum: number) {
  return {
    command: {
      text: 'SELECT AptNum, AptDateTime, ProvNum FROM appointment WHERE PatNum = @patNum ORDER BY AptNum',
      parameters: [{ name: '@patNum', type: 'Int', value: String(patNum) }],
    },
  };
}

async function query(sys: TestSystem, siteId: string, body: unknown, key?: string | null): Promise<Response> {
  return sys.call(`/integrator/sites/${siteId}/queries/immediate`, { method: 'POST', body: JSON.stringify(body), ...(key !== undefined ? { key } : {}) });
}

test('an integrator queries a practice through the facade, the hub and a leaf, with authority and errors', async (t) => {
  const sys = await startTestSystem();
  t.after(() => sys.close());
  const a = sys.sampleDatabase('practice-a', 'PMS-A-1001', 'Harbourside Dental');
  const b = sys.sampleDatabase('practice-b', 'PMS-B-2002', 'Northgate Dental');
  const backup = sys.copyDatabase(a, 'practice-a-backup');

  const link1 = await sys.startAgent('link-1', [
    { name: 'a', engine: 'sqlite', path: a, profile: 'sample' },
    { name: 'b', engine: 'sqlite', path: b, profile: 'sample' },
  ]);
  const link2 = await sys.startAgent('link-2', [{ name: 'a-backup', engine: 'sqlite', path: backup, profile: 'sample' }]);
  const siteA = link1.sites.find((s) => s.name === 'a')!;
  const siteBackup = link2.sites[0]!;
  assert.equal(siteA.authoritative, true);
  assert.equal(siteBackup.authoritative, false);

  await t.test('the sites lookup lists every site of a PMS ID with its flags', async () => {
    const res = await sys.call('/integrator/sites?practiceManagementSiteId=PMS-A-1001&practiceManagementName=sample');
    assert.equal(res.status, 200);
    const body = await json(res);
    assert.deepEqual(body.sites.map((s: Json) => [s.id, s.authoritative]), [[siteA.haloGuid, true], [siteBackup.haloGuid, false]]);
    const first = body.sites[0];
    assert.equal(first.availability, 'online');
    assert.equal(first.status, 'active');
    assert.equal(first.practiceMetadata.practiceName, 'Harbourside Dental');
    assert.equal(first.practiceMetadata.practiceManagementSiteId, 'PMS-A-1001');
    assert.deepEqual(first.catalogue, [{ name: 'main', isDefault: true }]);
    const byDisplayName = await json(await sys.call('/integrator/sites?practiceManagementSiteId=PMS-A-1001&practiceManagementName=Sample%20Dental'));
    assert.equal(byDisplayName.sites.length, 2);
    const none = await json(await sys.call('/integrator/sites?practiceManagementSiteId=NOPE'));
    assert.deepEqual(none.sites, []);
  });

  await t.test('a parameterised query returns exactly the rows the database holds', async () => {
    const db = new Database(a, { readonly: true });
    const patNum = (db.prepare('SELECT PatNum FROM appointment GROUP BY PatNum HAVING count(*) >= 3 ORDER BY PatNum LIMIT 1').get() as { PatNum: number }).PatNum;
    const expected = db.prepare('SELECT AptNum, AptDateTime, ProvNum FROM appointment WHERE PatNum = ? ORDER BY AptNum').all(patNum);
    db.close();
    const res = await query(sys, siteA.haloGuid, appointmentsQuery(patNum));
    assert.equal(res.status, 200);
    const body = await json(res);
    assert.equal(body.siteId, siteA.haloGuid);
    assert.equal(body.status, 'successful');
    assert.equal(body.result.rows, expected.length);
    assert.deepEqual(resultRows(body), expected);
    assert.ok(body.metrics.sqlExecutionDuration >= 0);

    // Our opt-in records form: the same rows with their columns.
    const records = await json(await sys.call(`/integrator/sites/${siteA.haloGuid}/queries/immediate?format=records`, { method: 'POST', body: JSON.stringify(appointmentsQuery(patNum)) }));
    assert.deepEqual(records.result.records, expected);
    assert.deepEqual(records.result.columns.map((c: Json) => c.name), ['AptNum', 'AptDateTime', 'ProvNum']);

    // Practice B is another database: the same query answers from B's rows.
    const siteB = link1.sites.find((s) => s.name === 'b')!;
    const fromB = await json(await query(sys, siteB.haloGuid, { command: { text: 'SELECT PmsId FROM practice' } }));
    assert.deepEqual(resultRows(fromB), [{ PmsId: 'PMS-B-2002' }]);
  });

  await t.test('bad input gets 400, a bad key 401, a non-authoritative site 403, an unknown site 404', async () => {
    const bad = await query(sys, siteA.haloGuid, { command: { text: '' } });
    assert.equal(bad.status, 400);
    assert.equal((await json(bad)).error.code, 'bad_request');
    const badParam = await query(sys, siteA.haloGuid, { command: { text: 'SELECT 1 WHERE @x = 1', parameters: [{ name: '@x', type: 'Int', value: 'not-a-number' }] } });
    assert.equal(badParam.status, 400);
    assert.equal((await json(badParam)).error.code, 'bad_request');
    const sqlError = await query(sys, siteA.haloGuid, { command: { text: 'SELECT NoSuchColumn FROM patient' } });
    assert.equal(sqlError.status, 400);
    assert.equal((await json(sqlError)).error.code, 'query_failed');

    const noKey = await query(sys, siteA.haloGuid, appointmentsQuery(1), null);
    assert.equal(noKey.status, 401);
    assert.equal((await json(noKey)).error.code, 'unauthorized');
    const wrongKey = await query(sys, siteA.haloGuid, appointmentsQuery(1), 'wrong-key');
    assert.equal(wrongKey.status, 401);

    const notAuthoritative = await query(sys, siteBackup.haloGuid, appointmentsQuery(1));
    assert.equal(notAuthoritative.status, 403);
    assert.equal((await json(notAuthoritative)).error.code, 'site_not_authoritative');

    const unknown = await query(sys, randomUUID(), appointmentsQuery(1));
    assert.equal(unknown.status, 404);
    assert.equal((await json(unknown)).error.code, 'site_not_found');
  });

  await t.test('writes are refused on a read-only site', async () => {
    const res = await query(sys, siteA.haloGuid, { command: { text: "UPDATE patient SET LName = 'X'", executionMode: 'nonQuery' } });
    assert.equal(res.status, 403);
    assert.equal((await json(res)).error.code, 'writes_disabled');
    const sneaky = await query(sys, siteA.haloGuid, { command: { text: "DELETE FROM patient" } });
    assert.equal(sneaky.status, 403);
  });

  await t.test('a site whose agent is gone answers 503 site_offline', async () => {
    await link1.close();
    const res = await query(sys, siteA.haloGuid, appointmentsQuery(1));
    assert.equal(res.status, 503);
    assert.equal((await json(res)).error.code, 'site_offline');
  });
});

test('an agent restart keeps its Link GUID and Halo GUIDs, and authority', async (t) => {
  const sys = await startTestSystem();
  t.after(() => sys.close());
  const a = sys.sampleDatabase('practice-a', 'PMS-R-1');
  const databases = [{ name: 'a', engine: 'sqlite' as const, path: a, profile: 'sample' }];
  const first = await sys.startAgent('link', databases);
  const before = { link: first.linkGuid, site: first.sites[0]!.haloGuid };
  await first.close();
  const second = await sys.startAgent('link', databases);
  assert.equal(second.linkGuid, before.link);
  assert.equal(second.sites[0]!.haloGuid, before.site);
  assert.equal(second.sites[0]!.authoritative, true);
  const res = await query(sys, before.site, { command: { text: 'SELECT count(*) AS n FROM patient' } });
  assert.equal(res.status, 200);
  assert.deepEqual(resultRows(await json(res)), [{ n: 300 }]);
});

test('the leaf nats-server is killed: the agent restarts it and the site answers again', async (t) => {
  const sys = await startTestSystem();
  t.after(() => sys.close());
  const a = sys.sampleDatabase('practice-a', 'PMS-L-1');
  const agent = await sys.startAgent('link', [{ name: 'a', engine: 'sqlite', path: a, profile: 'sample' }]);
  const siteId = agent.sites[0]!.haloGuid;
  const body = { command: { text: 'SELECT PracticeName FROM practice' } };
  assert.equal((await query(sys, siteId, body)).status, 200);
  const pid = agent.leaf.pid;
  agent.leaf.crash();
  // The facade sends a query nobody answers again for a few seconds (a leaf reconnecting): the restarted leaf
  // may already answer it; otherwise it fails as offline.
  const offline = await query(sys, siteId, body);
  assert.ok([200, 503, 504].includes(offline.status), `status while the leaf is down: ${offline.status}`);
  const answered = await eventually(async () => {
    const res = await query(sys, siteId, body);
    return res.status === 200 ? json(res) : undefined;
  }, 20_000, 200);
  assert.deepEqual(resultRows(answered), [{ PracticeName: 'practice-a Dental' }]);
  assert.notEqual(agent.leaf.pid, pid);
  assert.ok(agent.leaf.restartCount >= 1);
});

test('an agent with an unreadable database still serves its other sites', async (t) => {
  const sys = await startTestSystem();
  t.after(() => sys.close());
  const a = sys.sampleDatabase('practice-a', 'PMS-U-1');
  const agent = await sys.startAgent('link', [
    { name: 'missing', engine: 'sqlite', path: `${sys.dir}/does-not-exist.db`, profile: 'sample' },
    { name: 'a', engine: 'sqlite', path: a, profile: 'sample' },
  ]);
  assert.deepEqual(agent.sites.map((s) => s.name), ['a']);
});

test('an agent shutting down lets the queries in flight finish before it closes the databases', async (t) => {
  const sys = await startTestSystem();
  t.after(() => sys.close());
  const a = sys.sampleDatabase('practice-a', 'PMS-R-5');
  const agent = await sys.startAgent('link', [{ name: 'a', engine: 'sqlite' as const, path: a, profile: 'sample' }]);
  const haloGuid = agent.sites[0]!.haloGuid;
  // About a second of SQLite work before the one row, so the agent is asked to stop while it runs.
  const slow = query(sys, haloGuid, { command: { text: 'WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 3000000) SELECT count(*) AS n FROM c' } });
  await new Promise((resolve) => setTimeout(resolve, 300));
  const closed = agent.close();
  const res = await slow;
  await closed;
  assert.equal(res.status, 200, JSON.stringify(await res.clone().json()));
  assert.deepEqual(resultRows(await json(res)), [{ n: 3000000 }]);
});
