// scalar and nonQuery through the facade, typed parameters, and writes only where the agent's config allows.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { startTestSystem } from '../support/system.ts';
import { resultRows } from '../support/halo-result.ts';

type Json = Record<string, any>;

test('scalar, nonQuery and typed parameters; writes only on a site whose config allows them', async (t) => {
  const sys = await startTestSystem();
  t.after(() => sys.close());
  const readOnlyPath = sys.sampleDatabase('ro', 'M-1');
  const writablePath = sys.sampleDatabase('rw', 'M-2');
  const agent = await sys.startAgent('link', [
    { name: 'ro', engine: 'sqlite', path: readOnlyPath, profile: 'sample' },
    { name: 'rw', engine: 'sqlite', path: writablePath, profile: 'sample', allowWrites: true },
  ]);
  const [ro, rw] = [agent.sites[0]!.haloGuid, agent.sites[1]!.haloGuid];
  const post = async (siteId: string, command: Json, query = '') => {
    const res = await sys.call(`/integrator/sites/${siteId}/queries/immediate${query}`, { method: 'POST', body: JSON.stringify({ command }) });
    return { status: res.status, body: (await res.json()) as Json };
  };

  const scalar = await post(ro, { text: 'SELECT count(*) FROM patient WHERE Gender = @g', executionMode: 'scalar', parameters: [{ name: '@g', type: 'TinyInt', value: '1' }] });
  assert.equal(scalar.status, 200);
  const db = new Database(readOnlyPath, { readonly: true });
  const expected = (db.prepare('SELECT count(*) AS n FROM patient WHERE Gender = 1').get() as { n: number }).n;
  const born = (db.prepare("SELECT count(*) AS n FROM patient WHERE Birthdate < '1970-01-01'").get() as { n: number }).n;
  db.close();
  assert.deepEqual(Object.values(resultRows(scalar.body)[0] ?? {}), [expected]);

  const typed = await post(ro, {
    text: 'SELECT count(*) AS n FROM patient WHERE Birthdate < @before',
    parameters: [{ name: '@before', type: 'Date', value: '1970-01-01' }],
  });
  assert.deepEqual(resultRows(typed.body), [{ n: born }]);

  // Decimals keep every digit end to end; a value out of its type's range is a 400 naming the parameter.
  const exact = await post(ro, { text: 'SELECT @d AS d', parameters: [{ name: '@d', type: 'Decimal', value: '99999999999999999999' }] });
  assert.equal(exact.status, 200, JSON.stringify(exact.body));
  assert.deepEqual(resultRows(exact.body), [{ d: '99999999999999999999' }]);
  for (const [type, value] of [['Money', '99999999999999999999'], ['SmallMoney', '214748.3648'], ['Decimal', '9'.repeat(39)]]) {
    const outOfRange = await post(ro, { text: 'SELECT @price AS p', parameters: [{ name: '@price', type, value }] });
    assert.equal(outOfRange.status, 400, `${type} ${JSON.stringify(outOfRange.body)}`);
    assert.equal(outOfRange.body.error.code, 'bad_request');
    assert.match(outOfRange.body.error.message, /@price is out of range/);
    assert.ok(!outOfRange.body.error.message.includes(value));
  }
  const badShape = await post(ro, { text: 'SELECT @d', parameters: [{ name: '@d', type: 'Decimal', value: '1', precision: 4, scale: 5 }] });
  assert.equal(badShape.status, 400);
  assert.equal(badShape.body.error.code, 'bad_request');

  // Halo's parameter vocabulary: `String` is NVarChar; types no engine binds are refused by name; SQLite has no
  // stored procedures, and output directions outside one are a clear 400, not a failed statement.
  const asString = await post(ro, { text: 'SELECT @s AS s', parameters: [{ name: '@s', type: 'String', value: 'Zoë' }] });
  assert.equal(asString.status, 200, JSON.stringify(asString.body));
  assert.deepEqual(resultRows(asString.body), [{ s: 'Zoë' }]);
  const variant = await post(ro, { text: 'SELECT @v', parameters: [{ name: '@v', type: 'Variant', value: '1' }] });
  assert.equal(variant.status, 400);
  assert.match(variant.body.error.message, /parameter type "Variant" is not supported/);
  const procedure = await post(ro, { text: 'GetPatientID', type: 'storedProcedure' });
  assert.equal(procedure.status, 400);
  assert.equal(procedure.body.error.code, 'procedures_not_supported');
  assert.match(procedure.body.error.message, /SQLite has no stored procedures/);
  const output = await post(ro, { text: 'SELECT 1', parameters: [{ name: '@out', type: 'Int', value: null, direction: 'output' }] });
  assert.equal(output.status, 400);
  assert.equal(output.body.error.code, 'bad_request');
  assert.match(output.body.error.message, /parameter direction output needs command type storedProcedure/);

  // A statement that would take ~1 GB in the SQLite worker stops at the site's maxMemoryMiB (default 256).
  const hungry = await post(ro, { text: 'SELECT length(randomblob(500000000) || randomblob(1)) AS n' });
  assert.equal(hungry.status, 413, JSON.stringify(hungry.body));
  assert.equal(hungry.body.error.code, 'resource_limit_exceeded');

  const refused = await post(ro, { text: "UPDATE patient SET Preferred = 'X' WHERE PatNum = 1", executionMode: 'nonQuery' });
  assert.equal(refused.status, 403);
  assert.equal(refused.body.error.code, 'writes_disabled');

  const written = await post(rw, {
    text: 'UPDATE patient SET Preferred = @p WHERE PatNum <= @n',
    executionMode: 'nonQuery',
    parameters: [{ name: '@p', type: 'NVarChar', value: 'Zzyzx' }, { name: '@n', type: 'Int', value: '3' }],
  });
  assert.equal(written.status, 200, JSON.stringify(written.body));
  assert.equal(written.body.result.rowsAffected, 3);
  const check = new Database(writablePath, { readonly: true });
  assert.equal((check.prepare("SELECT count(*) AS n FROM patient WHERE Preferred = 'Zzyzx'").get() as { n: number }).n, 3);
  check.close();

  // Even on a writable site, reader mode stays read-only.
  const sneaky = await post(rw, { text: "DELETE FROM patient" });
  assert.equal(sneaky.status, 403);
});

test('a practice that switches the integration off in its PMS gets 403 integration_disabled', async (t) => {
  const sys = await startTestSystem();
  t.after(() => sys.close());
  const path = sys.sampleDatabase('rw', 'M-3');
  const agent = await sys.startAgent('link', [{ name: 'rw', engine: 'sqlite', path, profile: 'sample', allowWrites: true, integrationCheckSeconds: 0 }]);
  const siteId = agent.sites[0]!.haloGuid;
  const post = async (command: Json) => {
    const res = await sys.call(`/integrator/sites/${siteId}/queries/immediate`, { method: 'POST', body: JSON.stringify({ command }) });
    return { status: res.status, body: (await res.json()) as Json };
  };
  assert.equal((await post({ text: 'SELECT 1 AS one' })).status, 200);
  // The practice turns the integration off in its PMS (here: the sample PMS's integration table).
  const db = new Database(path);
  db.prepare("UPDATE integration SET Enabled = 0 WHERE Name = 'halo'").run();
  const refused = await post({ text: 'SELECT 1 AS one' });
  assert.equal(refused.status, 403);
  assert.equal(refused.body.error.code, 'integration_disabled');
  db.prepare("UPDATE integration SET Enabled = 1 WHERE Name = 'halo'").run();
  db.close();
  assert.equal((await post({ text: 'SELECT 1 AS one' })).status, 200);
});
