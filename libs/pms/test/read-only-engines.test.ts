// The bypass corpus against real SQLite, PostgreSQL and MariaDB: the guard refuses every attempt; each refused
// attempt is then run anyway, unguarded, on the engine's read-only session under a least-privilege login (the
// layers that come before the guard), and the database must be unchanged afterwards. Legitimate reads must run.
// PostgreSQL (127.0.0.1:5432, postgres, trust) and MariaDB (127.0.0.1:3306, root, no password) are skipped when
// unreachable, or fail the run when CI=true.
import { test } from 'node:test';
import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import mysql from 'mysql2/promise';
import { AppError } from '@halo/contracts';
import { assertReadOnly, classifyStatement, openConnector } from '@halo/pms';
import type { Connector, SqlDialect } from '@halo/pms';
import { BYPASS_ATTEMPTS, BYPASS_FILE_PREFIX, LEGIT_QUERIES } from './fixtures/bypass-corpus.ts';
import type { LegitQuery } from './fixtures/bypass-corpus.ts';
import { param, reader, tempDir } from './fixtures.ts';

const PATIENTS: [number, string, string, string | null][] = [
  [1, 'Smith', 'Ann', '1980-02-03'], [2, "O'Brien", 'Bob', null], [3, 'Zoë', 'Cy', '1975-12-31'],
];
const APPOINTMENTS: [number, number, string, string | null][] = [
  [10, 1, '2024-03-01 09:00:00', 'check-up'], [11, 1, '2024-04-01 10:30:00', null], [12, 3, '2024-05-06 14:00:00', 'update x-ray'],
];

function attemptsFor(dialect: SqlDialect) {
  return BYPASS_ATTEMPTS.filter((attempt) => attempt.dialects.includes(dialect));
}

function bypassFiles(): string[] {
  return readdirSync(tmpdir()).filter((name) => name.startsWith(BYPASS_FILE_PREFIX));
}

/** Every attempt for the dialect must be refused by the guard; returns them for the unguarded run. */
function refusedByGuard(dialect: SqlDialect) {
  const attempts = attemptsFor(dialect);
  for (const attempt of attempts) assert.equal(classifyStatement(attempt.text, dialect).readOnly, false, attempt.name);
  return attempts;
}

/** `@name` parameters replaced by literal values, for engines driven without binding. */
function withValues(query: LegitQuery): string {
  return query.text.replace(/@([A-Za-z]+)/g, (_match, name: string) => query.values?.[name] ?? 'NULL');
}

/** Skips with the reason, or fails under CI, when a server cannot be reached. */
function unreachable(t: TestContext, what: string, error: unknown): void {
  const message = `${what} is not reachable (${error instanceof Error ? error.message : String(error)})`;
  if (process.env.CI === 'true') assert.fail(`${message}; CI needs it for the read-only bypass corpus`);
  t.skip(message);
}

/** A guarded connector, as a read-only site should be wired: the guard first, then the connector. */
async function guardedQuery(connector: Connector, dialect: SqlDialect, text: string) {
  assertReadOnly(text, dialect);
  return connector.query(reader(text));
}

const isAppError = (error: unknown) => error instanceof AppError;

/** The connector refuses a host-introspection read with writes_disabled, without what it would have revealed. */
async function assertHostRefused(connector: Connector, text: string, secret: string): Promise<void> {
  await assert.rejects(connector.query(reader(text)), (error: unknown) => {
    assert.ok(error instanceof AppError, text);
    assert.equal(error.code, 'writes_disabled', text);
    assert.match(error.message, /host/, text);
    assert.ok(!error.message.includes(secret), text);
    return true;
  });
}

test('SQLite: the corpus leaves the database unchanged through the guard, query_only and the connector', async (t) => {
  for (const name of bypassFiles()) rmSync(join(tmpdir(), name), { force: true });
  const path = join(tempDir(t), 'canary.db');
  const setup = new Database(path);
  setup.exec(`CREATE TABLE patient (PatNum INTEGER PRIMARY KEY, LName TEXT, FName TEXT, Birthdate TEXT);
    CREATE TABLE appointment (AptNum INTEGER PRIMARY KEY, PatNum INTEGER, AptDateTime TEXT, Note TEXT);`);
  const insertPatient = setup.prepare('INSERT INTO patient VALUES (?, ?, ?, ?)');
  for (const row of PATIENTS) insertPatient.run(...row);
  const insertAppointment = setup.prepare('INSERT INTO appointment VALUES (?, ?, ?, ?)');
  for (const row of APPOINTMENTS) insertAppointment.run(...row);
  setup.close();

  const snapshot = () => {
    const db = new Database(path, { readonly: true });
    try {
      return JSON.stringify({
        patient: db.prepare('SELECT * FROM patient ORDER BY PatNum').raw().all(),
        appointment: db.prepare('SELECT * FROM appointment ORDER BY AptNum').raw().all(),
        schema: db.prepare('SELECT type, name, sql FROM sqlite_schema ORDER BY type, name').raw().all(),
        userVersion: db.pragma('user_version', { simple: true }),
      });
    } finally {
      db.close();
    }
  };
  const before = snapshot();
  const attempts = refusedByGuard('sqlite');

  // Second layer, unguarded: a read-only open with query_only on; exec() even runs every stacked statement.
  for (const attempt of attempts) {
    const db = new Database(path, { readonly: true, fileMustExist: true });
    try {
      db.pragma('query_only = ON');
      db.exec(attempt.text);
    } catch {
      // Refused by the engine: the point.
    } finally {
      db.close();
    }
  }
  assert.equal(snapshot(), before);
  // The one hole in this layer: VACUUM INTO writes a copy of the database even from a read-only, query_only
  // connection. The connector refuses it before prepare (reader mode), and so does the guard.
  assert.deepEqual(bypassFiles(), [`${BYPASS_FILE_PREFIX}vacuum.db`]);
  rmSync(join(tmpdir(), `${BYPASS_FILE_PREFIX}vacuum.db`));

  // The connector: guarded, every attempt is writes_disabled; unguarded, its own layers hold.
  const connector = await openConnector({ engine: 'sqlite', path });
  t.after(() => connector.close());
  for (const attempt of attempts) {
    await assert.rejects(guardedQuery(connector, 'sqlite', attempt.text), (e) => isAppError(e) && (e as AppError).code === 'writes_disabled', attempt.name);
    await connector.query(reader(attempt.text)).catch((error: unknown) => assert.ok(isAppError(error), attempt.name));
  }
  for (const query of LEGIT_QUERIES.filter((q) => q.dialects.includes('sqlite'))) {
    const parameters = Object.entries(query.values ?? {}).map(([name, value]) => param(`@${name}`, 'Int', value));
    assertReadOnly(query.text, 'sqlite');
    await connector.query(reader(query.text, { parameters }));
  }
  // Host introspection writes nothing, so the engine's layers let it through: only the connector's guard stops it.
  const raw = new Database(path, { readonly: true });
  assert.equal(raw.prepare("SELECT file FROM pragma_database_list WHERE name = 'main'").pluck().get(), path);
  raw.close();
  await assertHostRefused(connector, "SELECT file FROM pragma_database_list WHERE name = 'main'", path);
  const columns = await connector.query(reader("SELECT name FROM pragma_table_info('patient') ORDER BY cid"));
  assert.deepEqual(columns.rows, [['PatNum'], ['LName'], ['FName'], ['Birthdate']]);
  assert.equal(snapshot(), before);
  assert.deepEqual(bypassFiles(), []);
});

test('PostgreSQL: the corpus leaves the database unchanged through the guard, a read-only session and the connector', async (t) => {
  const admin = new pg.Client({ host: '127.0.0.1', port: 5432, user: 'postgres', database: 'postgres', connectionTimeoutMillis: 3000 });
  try {
    await admin.connect();
  } catch (error) {
    unreachable(t, 'PostgreSQL at 127.0.0.1:5432', error);
    return;
  }
  for (const name of bypassFiles()) rmSync(join(tmpdir(), name), { force: true });
  const id = `halo_ro_${randomBytes(6).toString('hex')}`;
  const reader_ = `${id}_reader`;
  await admin.query(`CREATE DATABASE ${id}`);
  await admin.query(`CREATE ROLE ${reader_} LOGIN`);
  t.after(async () => {
    await admin.query(`DROP DATABASE IF EXISTS ${id} WITH (FORCE)`);
    await admin.query(`DROP ROLE IF EXISTS ${reader_}`);
    await admin.end();
  });

  const connect = async (user: string) => {
    const client = new pg.Client({ host: '127.0.0.1', port: 5432, user, database: id, connectionTimeoutMillis: 3000 });
    client.on('error', () => {}); // an attempt may terminate its own backend
    await client.connect();
    return client;
  };
  const owner = await connect('postgres');
  t.after(() => owner.end());
  await owner.query(`CREATE TABLE patient (PatNum int PRIMARY KEY, LName varchar(50), FName varchar(50), Birthdate date);
    CREATE TABLE appointment (AptNum int PRIMARY KEY, PatNum int, AptDateTime timestamp, Note varchar(200));
    CREATE SEQUENCE canary_seq;
    GRANT SELECT ON patient, appointment TO ${reader_};
    REVOKE ALL ON SCHEMA public FROM PUBLIC; GRANT USAGE ON SCHEMA public TO ${reader_};`);
  for (const row of PATIENTS) await owner.query('INSERT INTO patient VALUES ($1, $2, $3, $4)', row);
  for (const row of APPOINTMENTS) await owner.query('INSERT INTO appointment VALUES ($1, $2, $3, $4)', row);

  const snapshot = async () => JSON.stringify({
    patient: (await owner.query("SELECT md5(string_agg(p::text, ',' ORDER BY PatNum)) AS h FROM patient p")).rows,
    appointment: (await owner.query("SELECT md5(string_agg(a::text, ',' ORDER BY AptNum)) AS h FROM appointment a")).rows,
    sequence: (await owner.query('SELECT last_value, is_called FROM canary_seq')).rows,
    relations: (await owner.query("SELECT n.nspname, c.relname, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%' ORDER BY 1, 2")).rows,
    functions: (await owner.query("SELECT p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1")).rows,
    roles: (await owner.query(`SELECT rolname, rolsuper, rolcreaterole, rolcreatedb FROM pg_roles WHERE rolname LIKE 'pwned%' OR rolname = '${reader_}'`)).rows,
    largeObjects: (await owner.query('SELECT count(*) AS n FROM pg_largeobject_metadata')).rows,
    settings: (await owner.query('SELECT setconfig FROM pg_db_role_setting WHERE setdatabase = (SELECT oid FROM pg_database WHERE datname = current_database())')).rows,
  });
  const before = await snapshot();
  const attempts = refusedByGuard('postgresql');

  // Second layer, unguarded: a SELECT-only login, default_transaction_read_only and BEGIN READ ONLY. The simple
  // query protocol used here runs every stacked statement, the worst case.
  for (const attempt of attempts) {
    const client = await connect(reader_);
    try {
      await client.query("SET statement_timeout = '2s'; SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY; BEGIN READ ONLY");
      await client.query(attempt.text).catch(() => {});
      await client.query('ROLLBACK').catch(() => {});
    } finally {
      await client.end().catch(() => {});
    }
  }
  assert.equal(await snapshot(), before);

  for (const query of LEGIT_QUERIES.filter((q) => q.dialects.includes('postgresql'))) {
    const client = await connect(reader_);
    try {
      await client.query('BEGIN READ ONLY');
      await client.query(withValues(query));
    } finally {
      await client.end();
    }
  }

  // The connector, as the reader login: guarded, every attempt is writes_disabled; unguarded, its layers hold.
  const connector = await openConnector({ engine: 'postgres', host: '127.0.0.1', port: 5432, database: id, user: reader_ });
  t.after(() => connector.close());
  const probe = await connect(reader_);
  try {
    assert.equal((await probe.query('SELECT inet_server_addr()::text AS a')).rows[0]?.a, '127.0.0.1/32');
  } finally {
    await probe.end();
  }
  await assertHostRefused(connector, 'SELECT inet_server_addr()::text AS a', '127.0.0.1');
  await assertHostRefused(connector, "SELECT setting FROM pg_settings WHERE name = 'port'", '5432');
  for (const attempt of attempts) {
    await assert.rejects(guardedQuery(connector, 'postgresql', attempt.text), (e) => isAppError(e) && (e as AppError).code === 'writes_disabled', attempt.name);
    await connector.query(reader(attempt.text, { deadline: Date.now() + 2000 })).catch(() => {});
  }
  await connector.close();
  assert.equal(await snapshot(), before);
  assert.deepEqual(bypassFiles(), []);
});

test('MariaDB: the corpus leaves the database unchanged through the guard, a read-only session and the connector', async (t) => {
  let admin: mysql.Connection;
  try {
    admin = await mysql.createConnection({ host: '127.0.0.1', port: 3306, user: 'root', password: '', connectTimeout: 3000 });
  } catch (error) {
    unreachable(t, 'MariaDB at 127.0.0.1:3306', error);
    return;
  }
  for (const name of bypassFiles()) rmSync(join(tmpdir(), name), { force: true });
  const id = `halo_ro_${randomBytes(6).toString('hex')}`;
  const user = `${id}_r`.slice(0, 32);
  await admin.query(`CREATE DATABASE ${id}`);
  for (const host of ['%', 'localhost']) {
    await admin.query(`CREATE USER '${user}'@'${host}'`);
    await admin.query(`GRANT SELECT ON ${id}.* TO '${user}'@'${host}'`);
  }
  t.after(async () => {
    await admin.query(`DROP DATABASE IF EXISTS ${id}`);
    for (const host of ['%', 'localhost']) await admin.query(`DROP USER IF EXISTS '${user}'@'${host}'`);
    await admin.end();
  });
  await admin.query(`CREATE TABLE ${id}.patient (PatNum int PRIMARY KEY, LName varchar(50), FName varchar(50), Birthdate date)`);
  await admin.query(`CREATE TABLE ${id}.appointment (AptNum int PRIMARY KEY, PatNum int, AptDateTime datetime, Note varchar(200))`);
  await admin.query(`CREATE SEQUENCE ${id}.canary_seq`);
  for (const row of PATIENTS) await admin.query(`INSERT INTO ${id}.patient VALUES (?, ?, ?, ?)`, row);
  for (const row of APPOINTMENTS) await admin.query(`INSERT INTO ${id}.appointment VALUES (?, ?, ?, ?)`, row);

  const rows = async (sql: string) => (await admin.query(sql))[0];
  const snapshot = async () => JSON.stringify({
    patient: await rows(`SELECT * FROM ${id}.patient ORDER BY PatNum`),
    appointment: await rows(`SELECT * FROM ${id}.appointment ORDER BY AptNum`),
    sequence: await rows(`SELECT next_not_cached_value FROM ${id}.canary_seq`),
    tables: await rows(`SELECT table_name, table_type FROM information_schema.tables WHERE table_schema = '${id}' ORDER BY 1`),
    routines: await rows(`SELECT routine_name FROM information_schema.routines WHERE routine_schema = '${id}' ORDER BY 1`),
    users: await rows(`SELECT user, host FROM mysql.user WHERE user LIKE 'pwned%' OR user = '${user}' ORDER BY 1, 2`),
    grants: await rows(`SHOW GRANTS FOR '${user}'@'%'`),
    locks: await rows("SELECT IS_USED_LOCK('halo') AS holder"),
  });
  const before = await snapshot();
  const attempts = refusedByGuard('mysql');

  // Second layer, unguarded: a SELECT-only login in a READ ONLY session and transaction (the session setting
  // also stops DDL, which a READ ONLY transaction alone lets through), with multipleStatements on: the worst case.
  for (const attempt of attempts) {
    const connection = await mysql.createConnection({ host: '127.0.0.1', port: 3306, user, password: '', database: id, multipleStatements: true });
    connection.on('error', () => {});
    try {
      await connection.query('SET SESSION max_statement_time = 2');
      await connection.query('SET SESSION TRANSACTION READ ONLY');
      await connection.query('START TRANSACTION READ ONLY');
      await connection.query(attempt.text).catch(() => {});
      await connection.query('ROLLBACK').catch(() => {});
    } finally {
      await connection.end().catch(() => {});
    }
  }
  assert.equal(await snapshot(), before);

  const legit = await mysql.createConnection({ host: '127.0.0.1', port: 3306, user, password: '', database: id });
  try {
    await legit.query('START TRANSACTION READ ONLY');
    for (const query of LEGIT_QUERIES.filter((q) => q.dialects.includes('mysql'))) await legit.query(withValues(query));
  } finally {
    await legit.end();
  }

  const connector = await openConnector({ engine: 'mysql', host: '127.0.0.1', port: 3306, database: id, user, password: '' });
  t.after(() => connector.close());
  const probe = await mysql.createConnection({ host: '127.0.0.1', port: 3306, user, password: '', database: id });
  let datadir: string;
  try {
    datadir = String(((await probe.query('SELECT @@datadir AS d'))[0] as { d: string }[])[0]?.d);
  } finally {
    await probe.end();
  }
  assert.match(datadir, /^\//);
  await assertHostRefused(connector, 'SELECT @@datadir AS d', datadir);
  await assertHostRefused(connector, "SELECT global_value FROM information_schema.system_variables WHERE variable_name = 'datadir'", datadir);
  for (const attempt of attempts) {
    await assert.rejects(guardedQuery(connector, 'mysql', attempt.text), (e) => isAppError(e) && (e as AppError).code === 'writes_disabled', attempt.name);
    await connector.query(reader(attempt.text, { deadline: Date.now() + 2000 })).catch(() => {});
  }
  await connector.close();
  assert.equal(await snapshot(), before);
  assert.deepEqual(bypassFiles(), []);
});
