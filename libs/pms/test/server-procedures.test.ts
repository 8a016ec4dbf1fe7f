// Stored procedure calls on real PostgreSQL (CALL with INOUT/OUT, functions) and MariaDB (CALL with OUT/INOUT
// through session variables): output values come back in the summary's parameters, as strings; a call on a
// read-only database runs in the READ ONLY transaction, where the engine refuses a write the procedure attempts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AppError, QueryParameter } from '@halo/contracts';
import type { Connector, QueryInput } from '@halo/pms';
import { collectAll } from './procedure-helpers.ts';
import { connectorFor, mysqlAdmin, mysqlServer, postgresAdmin, postgresServer, sampleServerDatabase } from './server-databases.ts';

const p = (raw: Record<string, unknown>): QueryParameter => QueryParameter.parse(raw);

function call(text: string, parameters: QueryParameter[], overrides: Partial<QueryInput> = {}): QueryInput {
  return { text, commandType: 'storedProcedure', parameters, executionMode: 'reader', deadline: Date.now() + 10_000, ...overrides };
}

const refused = (code: string, pattern: RegExp) => (e: unknown) => e instanceof AppError && e.code === code && pattern.test(e.message);

test('postgres: CALL with INOUT and OUT parameters, a function\'s returnValue, a set-returning function as rows', async (t) => {
  const config = await sampleServerDatabase(t, postgresServer(), { patients: 5 });
  const admin = await postgresAdmin(t, config);
  await admin.query(`
    CREATE PROCEDURE balance(IN pat int, INOUT note text, OUT total numeric) LANGUAGE plpgsql AS $$
    BEGIN note := note || ' #' || pat; total := pat * 10.5; END $$;
    CREATE FUNCTION twice(x int) RETURNS int LANGUAGE sql AS 'SELECT x * 2';
    CREATE FUNCTION upto(n int) RETURNS TABLE(i int) LANGUAGE sql AS 'SELECT generate_series(1, n)';
    CREATE TABLE log (v text);
    CREATE PROCEDURE write_log(v text) LANGUAGE sql AS 'INSERT INTO log VALUES (v)';
    CREATE PROCEDURE write_back(INOUT n int) LANGUAGE plpgsql AS $$ BEGIN INSERT INTO log VALUES ('back'); n := n + 1; END $$;`);
  const connector: Connector = await connectorFor(t, config);

  const proc = await collectAll(connector, call('balance', [
    p({ name: '@pat', type: 'Int', value: '4' }),
    p({ name: '@note', type: 'NVarChar', direction: 'inputOutput', value: 'Zoë' }),
    p({ name: '@total', type: 'Decimal', direction: 'output', value: null }),
  ]));
  assert.deepEqual(proc.rows, []);
  assert.deepEqual(proc.parameters, [
    { name: '@note', direction: 'inputOutput', type: 'NVarChar', value: 'Zoë #4' },
    { name: '@total', direction: 'output', type: 'Decimal', value: '42.0' },
  ]);

  const fn = await collectAll(connector, call('twice', [p({ name: 'x', type: 'Int', value: '21' }), p({ name: 'r', type: 'Int', direction: 'returnValue', value: null })]));
  assert.deepEqual(fn.parameters, [{ name: 'r', direction: 'returnValue', type: 'Int', value: '42' }]);

  const rows = await collectAll(connector, call('public.upto', [p({ name: 'n', type: 'Int', value: '3' })]));
  assert.deepEqual(rows.rows, [[1], [2], [3]]);
  assert.equal(rows.parameters, undefined);

  // Read-only: the call runs in the READ ONLY transaction, so a procedure that writes fails there.
  await assert.rejects(collectAll(connector, call('write_back', [p({ name: 'n', type: 'Int', direction: 'inputOutput', value: '1' })])), refused('writes_disabled', /read-only transaction/));
  await assert.rejects(collectAll(connector, call('write_log', [p({ name: 'v', type: 'VarChar', value: 'x' })], { executionMode: 'nonQuery' })), refused('writes_disabled', /writes/));
  const writable = await connectorFor(t, config, true);
  await collectAll(writable, call('write_log', [p({ name: 'v', type: 'VarChar', value: 'written' })], { executionMode: 'nonQuery' }));
  assert.deepEqual((await admin.query('SELECT v FROM log')).rows, [{ v: 'written' }]);

  await assert.rejects(collectAll(connector, call('balance; DROP TABLE log', [])), refused('bad_request', /procedure's name/));
  await assert.rejects(collectAll(connector, call('twice', [
    p({ name: 'x', type: 'Int', direction: 'output', value: null }), p({ name: 'r', type: 'Int', direction: 'returnValue', value: null }),
  ])), refused('procedures_not_supported', /returnValue/));
});

test('mysql: CALL with OUT and INOUT through session variables; no return value', async (t) => {
  const config = await sampleServerDatabase(t, mysqlServer(), { patients: 5 });
  const admin = await mysqlAdmin(t, config);
  await admin.query(`CREATE PROCEDURE balance(IN pat INT, INOUT note VARCHAR(100), OUT total DECIMAL(10,2))
    BEGIN SET note = CONCAT(note, ' #', pat); SET total = pat * 10.5; SELECT pat AS seen; END`);
  await admin.query('CREATE TABLE log (v VARCHAR(20))');
  await admin.query('CREATE PROCEDURE write_log(IN v VARCHAR(20)) INSERT INTO log VALUES (v)');
  const connector = await connectorFor(t, config);

  const result = await collectAll(connector, call('balance', [
    p({ name: '@pat', type: 'Int', value: '4' }),
    p({ name: '@note', type: 'NVarChar', direction: 'inputOutput', value: "Zoë's" }),
    p({ name: '@total', type: 'Decimal', direction: 'output', value: null }),
  ]));
  assert.deepEqual(result.rows, [[4]]);
  assert.deepEqual(result.parameters, [
    { name: '@note', direction: 'inputOutput', type: 'NVarChar', value: "Zoë's #4" },
    { name: '@total', direction: 'output', type: 'Decimal', value: '42.00' },
  ]);

  await assert.rejects(collectAll(connector, call('write_log', [p({ name: 'v', type: 'VarChar', value: 'x' })])), refused('writes_disabled', /read-only transaction/));
  const writable = await connectorFor(t, config, true);
  const written = await collectAll(writable, call('write_log', [p({ name: 'v', type: 'VarChar', value: 'ok' })], { executionMode: 'nonQuery' }));
  assert.equal(written.affected, 1);
  const [rows] = await admin.query('SELECT v FROM log');
  assert.deepEqual(rows, [{ v: 'ok' }]);

  await assert.rejects(collectAll(connector, call('balance', [p({ name: 'r', type: 'Int', direction: 'returnValue', value: null })])),
    refused('procedures_not_supported', /no return value/));
});
