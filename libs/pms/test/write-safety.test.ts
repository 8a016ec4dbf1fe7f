import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import Database from 'better-sqlite3';
import { AppError } from '@halo/contracts';
import type { Connector } from '@halo/pms';
import { param, reader, sampleConnector } from './fixtures.ts';

const refused = (code: string) => (error: unknown) => error instanceof AppError && error.code === code;

function patientCount(path: string): number {
  const db = new Database(path, { readonly: true });
  try {
    return db.prepare('SELECT count(*) FROM patient').pluck().get() as number;
  } finally {
    db.close();
  }
}

async function attempts(connector: Connector, mode: 'reader' | 'scalar' | 'nonQuery', texts: string[], code: string) {
  for (const text of texts) {
    await assert.rejects(connector.query(reader(text, { executionMode: mode })), refused(code), `${mode}: ${text}`);
  }
}

test('reader and scalar modes refuse statements that write or return no rows', async (t) => {
  const { connector, path } = await sampleConnector(t);
  const before = patientCount(path);
  const writes = [
    "INSERT INTO patient (LName, FName) VALUES ('X', 'Y')",
    'DELETE FROM patient',
    "UPDATE patient SET LName = 'X'",
    'DROP TABLE patient',
    'CREATE TEMP TABLE scratch (a)',
    // Returns rows, so stmt.reader is true: SQLite's own read-only verdict catches it.
    "INSERT INTO patient (LName) VALUES ('X') RETURNING PatNum",
    "WITH x AS (SELECT 1) DELETE FROM patient RETURNING PatNum",
    'PRAGMA query_only = OFF',
    "ATTACH DATABASE ':memory:' AS other",
    'BEGIN IMMEDIATE',
    // Writes a copy of the whole database anywhere, even from a read-only connection.
    `VACUUM INTO '${join(dirname(path), 'copy.db')}'`,
  ];
  await attempts(connector, 'reader', writes, 'writes_disabled');
  await attempts(connector, 'scalar', writes, 'writes_disabled');
  assert.equal(patientCount(path), before);
  assert.equal(existsSync(join(dirname(path), 'copy.db')), false);
  await assert.rejects(connector.query(reader("SELECT load_extension('/nonexistent')")), refused('writes_disabled'));
});

test('nonQuery is refused unless writes are allowed', async (t) => {
  const { connector, path } = await sampleConnector(t);
  const before = patientCount(path);
  await attempts(connector, 'nonQuery', ['DELETE FROM patient', 'PRAGMA query_only = OFF', 'SELECT 1'], 'writes_disabled');
  assert.equal(patientCount(path), before);
});

test('the session itself is read-only: query_only stays on', async (t) => {
  const { connector, path } = await sampleConnector(t);
  // pragma_query_only is refused to integrators (host introspection), so the flag is read through the worker's own
  // backstop: it checks query_only after every prepare and refuses the statement if it is off.
  const queryOnly = async () => (await connector.query(reader('SELECT 1'))).rows;
  assert.deepEqual(await queryOnly(), [[1]]);
  await assert.rejects(connector.query(reader('SELECT query_only FROM pragma_query_only')), refused('writes_disabled'));
  // SQLite applies a flag PRAGMA while compiling it, so merely preparing one would switch the session off:
  // these must be refused before prepare, however they are dressed up.
  const sneaky = [
    'PRAGMA query_only = OFF',
    'pragma query_only(0)',
    '/* comment */ -- another\n  PRAGMA main.query_only = false',
    'EXPLAIN PRAGMA query_only = OFF',
    'EXPLAIN QUERY PLAN PRAGMA query_only = 0',
  ];
  for (const mode of ['reader', 'scalar', 'nonQuery'] as const) {
    await attempts(connector, mode, sneaky, 'writes_disabled');
    assert.deepEqual(await queryOnly(), [[1]], mode);
  }
  // With the session still query_only, even a statement SQLite thinks is harmless cannot write a temp table.
  await assert.rejects(connector.query(reader('CREATE TEMP TABLE scratch (a)', { executionMode: 'nonQuery' })), refused('writes_disabled'));
  assert.ok(patientCount(path) > 0);
});

test('with allowWrites, nonQuery writes and reports affected rows, and open transactions are rolled back', async (t) => {
  const { connector, path } = await sampleConnector(t, { allowWrites: true });
  const result = await connector.query(reader('UPDATE patient SET Preferred = @preferred WHERE PatNum <= @max', {
    executionMode: 'nonQuery',
    parameters: [param('@preferred', 'NVarChar', 'Pat'), param('@max', 'Int', '5')],
  }));
  assert.equal(result.affected, 5);
  assert.deepEqual(result.rows, []);
  const db = new Database(path, { readonly: true });
  t.after(() => db.close());
  assert.equal(db.prepare("SELECT count(*) FROM patient WHERE Preferred = 'Pat'").pluck().get(), 5);

  // A BEGIN left open would hold the PMS database's write lock between queries.
  await connector.query(reader('BEGIN IMMEDIATE', { executionMode: 'nonQuery' }));
  await connector.query(reader('SELECT 1'));
  await connector.query(reader('DELETE FROM appointment', { executionMode: 'nonQuery' }));
  assert.ok((db.prepare('SELECT count(*) FROM appointment').pluck().get() as number) === 0);
});
