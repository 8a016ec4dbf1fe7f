import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { AppError } from '@halo/contracts';
import { openConnector } from '@halo/pms';
import { ENDLESS_COUNT, param, reader, sampleConnector, tempDir } from './fixtures.ts';

function assertAppError(code: string, check?: (error: AppError) => void) {
  return (error: unknown) => {
    assert.ok(error instanceof AppError, `expected an AppError, got ${String(error)}`);
    assert.equal(error.code, code);
    check?.(error);
    return true;
  };
}

test('identity names the absolute file without credentials', async (t) => {
  const { connector, path } = await sampleConnector(t);
  assert.equal(connector.engine, 'sqlite');
  assert.equal(connector.identity(), `sqlite:${path}`);
});

test('a missing file fails at open with not_found', async (t) => {
  const path = join(tempDir(t), 'missing.db');
  await assert.rejects(openConnector({ engine: 'sqlite', path }), assertAppError('not_found'));
});

test('a parameterised query returns the same rows as a direct read', async (t) => {
  const { connector, path } = await sampleConnector(t);
  const text = 'SELECT AptNum, PatNum, AptDateTime, ProcDescript FROM appointment WHERE PatNum = @patNum AND AptDateTime >= @from ORDER BY AptDateTime';
  const db = new Database(path, { readonly: true });
  t.after(() => db.close());
  const patNum = db.prepare('SELECT PatNum FROM appointment GROUP BY PatNum ORDER BY count(*) DESC LIMIT 1').pluck().get() as number;
  const expected = db.prepare(text).raw(true).all({ patNum, from: '2014-01-01T00:00:00' });
  assert.ok(expected.length > 1);

  const result = await connector.query(reader(text, {
    parameters: [param('@patNum', 'Int', String(patNum)), param('from', 'DateTime', '2014-01-01 00:00')],
  }));
  assert.deepEqual(result.rows, expected);
  assert.equal(result.rowCount, expected.length);
  assert.deepEqual(result.columns, [
    { name: 'AptNum', type: 'INTEGER' }, { name: 'PatNum', type: 'INTEGER' },
    { name: 'AptDateTime', type: 'TEXT' }, { name: 'ProcDescript', type: 'TEXT' },
  ]);
  assert.equal(result.bytes, Buffer.byteLength(JSON.stringify(result.rows)));
  assert.ok(result.executionMs >= 0);
  assert.equal(result.affected, undefined);
});

test('large results arrive whole, across many batches', async (t) => {
  const { connector, path } = await sampleConnector(t);
  const result = await connector.query(reader('SELECT * FROM appointment ORDER BY AptNum'));
  const db = new Database(path, { readonly: true });
  t.after(() => db.close());
  assert.deepEqual(result.rows, db.prepare('SELECT * FROM appointment ORDER BY AptNum').raw(true).all());
  assert.equal(result.bytes, Buffer.byteLength(JSON.stringify(result.rows)));
});

test('cells are JSON-safe: big integers as strings, blobs as base64, unknown expression types', async (t) => {
  const { connector } = await sampleConnector(t);
  const result = await connector.query(reader(
    "SELECT 9223372036854775807 AS big, 42 AS small, 1.5 AS real, x'00ff10' AS blob, NULL AS empty, 'é' AS text, 1e999 AS inf",
  ));
  assert.deepEqual(result.rows, [['9223372036854775807', 42, 1.5, Buffer.from([0, 255, 16]).toString('base64'), null, 'é', 'Infinity']]);
  assert.ok(result.columns.every((column) => column.type === 'unknown'));
  assert.equal(result.bytes, Buffer.byteLength(JSON.stringify(result.rows)));
});

test('scalar mode returns the first column of the first row, or null', async (t) => {
  const { connector } = await sampleConnector(t);
  const count = await connector.query(reader('SELECT count(*) AS n, 2 AS other FROM patient', { executionMode: 'scalar' }));
  assert.deepEqual(count.columns, [{ name: 'n', type: 'unknown' }]);
  assert.deepEqual(count.rows, [[200]]);
  assert.equal(count.rowCount, 1);
  const none = await connector.query(reader('SELECT LName FROM patient WHERE PatNum < 0', { executionMode: 'scalar' }));
  assert.deepEqual(none.rows, [[null]]);
  assert.equal(none.bytes, Buffer.byteLength(JSON.stringify(none.rows)));
});

test('missing, positional and duplicate parameters are bad requests', async (t) => {
  const { connector } = await sampleConnector(t);
  await assert.rejects(connector.query(reader('SELECT * FROM patient WHERE PatNum = @patNum')),
    assertAppError('bad_request', (error) => assert.match(error.message, /@patNum/)));
  await assert.rejects(connector.query(reader('SELECT * FROM patient WHERE PatNum = ?')), assertAppError('bad_request'));
  await assert.rejects(connector.query(reader('SELECT @a', { parameters: [param('@a', 'Int', '1'), param('a', 'Int', '2')] })),
    assertAppError('bad_request'));
  // Extra parameters are ignored, as SQL Server does.
  const result = await connector.query(reader('SELECT 1', { parameters: [param('@unused', 'Int', '1')] }));
  assert.deepEqual(result.rows, [[1]]);
});

test('SQL errors are query_failed, unparseable text is refused, and neither echoes SQL text or values', async (t) => {
  const { connector } = await sampleConnector(t);
  await assert.rejects(connector.query(reader('SELECT NoSuchColumn FROM patient')),
    assertAppError('query_failed', (error) => assert.match(error.message, /no such column/)));
  // What the read-only guard cannot parse never reaches SQLite: on a read-only site it is refused outright.
  await assert.rejects(connector.query(reader("SELECT * FROM patient WHERE LName = 'TopSecret")),
    assertAppError('writes_disabled', (error) => assert.doesNotMatch(error.message, /TopSecret/)));
  await assert.rejects(connector.query(reader("SELECT 'TopSecret' FROM patient WHERE WHERE")),
    assertAppError('writes_disabled', (error) => assert.doesNotMatch(error.message, /TopSecret|WHERE/)));
  // Stacked statements are the classic bypass: the read-only guard refuses them before SQLite sees them.
  await assert.rejects(connector.query(reader('SELECT 1; SELECT 2')), assertAppError('writes_disabled'));
  await assert.rejects(connector.query(reader('   ')), assertAppError('bad_request'));
  // The connector still answers after errors.
  assert.deepEqual((await connector.query(reader('SELECT 1'))).rows, [[1]]);
});

test('queries run one at a time and all complete', async (t) => {
  const { connector } = await sampleConnector(t);
  const results = await Promise.all(Array.from({ length: 20 }, (_, i) =>
    connector.query(reader('SELECT @i', { parameters: [param('@i', 'Int', String(i))] }))));
  assert.deepEqual(results.map((result) => result.rows[0]?.[0]), Array.from({ length: 20 }, (_, i) => i));
});

test('a closed connector refuses queries', async (t) => {
  const { connector } = await sampleConnector(t);
  await connector.close();
  await assert.rejects(connector.query(reader('SELECT 1')), assertAppError('internal'));
  await connector.close();
});

test('close stops a running statement at once and refuses queued ones', async (t) => {
  const { connector } = await sampleConnector(t);
  const running = connector.query(reader(ENDLESS_COUNT, { deadline: Date.now() + 60_000 }));
  const queued = connector.query(reader('SELECT 1'));
  await new Promise((resolve) => setTimeout(resolve, 200));
  const started = Date.now();
  await connector.close();
  assert.ok(Date.now() - started < 1_000, `close took ${Date.now() - started} ms`);
  await assert.rejects(running, assertAppError('internal', (error) => assert.match(error.message, /closed/)));
  await assert.rejects(queued, assertAppError('internal', (error) => assert.match(error.message, /closed/)));
});

test('a statement run again (compiled once by the worker) takes each run\'s own values, after a failed or stopped run too', async (t) => {
  const { connector, path } = await sampleConnector(t);
  const text = 'SELECT PatNum, LName FROM patient WHERE PatNum = @patNum';
  const db = new Database(path, { readonly: true });
  t.after(() => db.close());
  const expected = (patNum: number) => db.prepare(text).raw(true).all({ patNum });
  for (const patNum of [1, 2, 3, 2]) {
    assert.deepEqual((await connector.query(reader(text, { parameters: [param('@patNum', 'Int', String(patNum))] }))).rows, expected(patNum));
  }
  // The same text without its value fails before any row, and the next run is unaffected.
  await assert.rejects(connector.query(reader(text)), assertAppError('bad_request'));
  assert.deepEqual((await connector.query(reader(text, { parameters: [param('@patNum', 'Int', '4')] }))).rows, expected(4));
  // A stream stopped after its first batch leaves the statement free for the next run, which reads it all.
  const all = 'SELECT AptNum FROM appointment ORDER BY AptNum';
  const cursor = await connector.stream(reader(all, { batchRows: 5 }));
  for await (const batch of cursor) {
    assert.equal(batch.length, 5);
    break;
  }
  assert.deepEqual((await connector.query(reader(all))).rows, db.prepare(all).raw(true).all());
});
