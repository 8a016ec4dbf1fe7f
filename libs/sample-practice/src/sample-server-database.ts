// The sample practice on PostgreSQL and MySQL/MariaDB: the same tables and rows as createSampleDatabase writes
// to SQLite, with real date, timestamp and double columns where SQLite has text and REAL. Dates then come back
// as the same ISO text as from SQLite (see the connectors' cells), so one query gives the same rows everywhere
// (PostgreSQL folds the unquoted column names to lower case).
import pg from 'pg';
import mysql from 'mysql2/promise';
import { resolvePassword, tlsOptions } from '@halo/pms';
import type { MysqlConfig, PostgresConfig } from '@halo/pms';
import { sampleRows } from './sample-database.ts';
import type { SampleDatabaseOptions, SampleRow } from './sample-database.ts';
import { SAMPLE_DDL, SAMPLE_TABLES } from './sample-schema.ts';

const DATE_COLUMNS = new Set(['Birthdate', 'DateFirstVisit']);
const DATE_TIME_COLUMNS = new Set(['DateTEnabled', 'DateTStamp', 'AptDateTime', 'DateTimeArrived', 'DateTimeSeated', 'DateTimeDismissed']);
const INSERT_CHUNK = 500;
const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

/** SAMPLE_DDL with each column type adapted to the engine. */
export function sampleDdl(engine: 'postgres' | 'mysql'): string[] {
  const mysqlEngine = engine === 'mysql';
  const ddl = SAMPLE_DDL.replace(/^(\s+)(\w+) (TEXT|INTEGER|REAL)\b/gm, (_all, indent: string, column: string, type: string) => {
    let mapped: string;
    if (DATE_COLUMNS.has(column)) mapped = 'DATE';
    else if (DATE_TIME_COLUMNS.has(column)) mapped = mysqlEngine ? 'DATETIME' : 'TIMESTAMP';
    else if (type === 'REAL') mapped = mysqlEngine ? 'DOUBLE' : 'DOUBLE PRECISION';
    else if (type === 'INTEGER') mapped = mysqlEngine ? 'INT' : 'INTEGER';
    else mapped = mysqlEngine ? 'VARCHAR(255)' : 'TEXT';
    return `${indent}${column} ${mapped}`;
  });
  return ddl.split(';').map((statement) => statement.trim()).filter((statement) => statement !== '');
}

/**
 * Creates the database `config.database` if it does not exist and writes the sample practice into it, replacing
 * the sample tables if present. For demos and tests: needs a login that may create databases and tables.
 */
export async function createSampleServerDatabase(config: PostgresConfig | MysqlConfig, options: SampleDatabaseOptions): Promise<void> {
  const tables = sampleRows(options);
  if (config.engine === 'postgres') {
    await withPostgres(config, 'postgres', async (client) => {
      const exists = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [config.database]);
      if (exists.rowCount === 0) await client.query(`CREATE DATABASE ${quote(config.database, '"')}`);
    });
    await withPostgres(config, config.database, async (client) => {
      await client.query('BEGIN');
      for (const table of [...SAMPLE_TABLES].reverse()) await client.query(`DROP TABLE IF EXISTS ${table}`);
      for (const statement of sampleDdl('postgres')) await client.query(statement);
      for (const [table, rows] of tables) {
        for (let start = 0; start < rows.length; start += INSERT_CHUNK) {
          const chunk = rows.slice(start, start + INSERT_CHUNK);
          const columns = columnsOf(chunk);
          const values: unknown[] = [];
          const tuples = chunk.map((row) => `(${columns.map((column) => `$${values.push(row[column] ?? null)}`).join(', ')})`);
          await client.query(`INSERT INTO ${table} (${columns.join(', ')}) VALUES ${tuples.join(', ')}`, values);
        }
      }
      await client.query('COMMIT');
    });
    return;
  }
  await withMysql(config, undefined, async (connection) => {
    await connection.query(`CREATE DATABASE IF NOT EXISTS ${quote(config.database, '`')} CHARACTER SET utf8mb4`);
  });
  await withMysql(config, config.database, async (connection) => {
    for (const table of [...SAMPLE_TABLES].reverse()) await connection.query(`DROP TABLE IF EXISTS ${table}`);
    for (const statement of sampleDdl('mysql')) await connection.query(statement);
    await connection.query('START TRANSACTION');
    for (const [table, rows] of tables) {
      for (let start = 0; start < rows.length; start += INSERT_CHUNK) {
        const chunk = rows.slice(start, start + INSERT_CHUNK);
        const columns = columnsOf(chunk);
        await connection.query(`INSERT INTO ${table} (${columns.join(', ')}) VALUES ?`, [chunk.map((row) => columns.map((column) => row[column] ?? null))]);
      }
    }
    await connection.query('COMMIT');
  });
}

/** Drops the database `config.database` (and, on PostgreSQL, ends its sessions). For demos and tests. */
export async function dropSampleServerDatabase(config: PostgresConfig | MysqlConfig): Promise<void> {
  if (config.engine === 'postgres') {
    await withPostgres(config, 'postgres', (client) => client.query(`DROP DATABASE IF EXISTS ${quote(config.database, '"')} WITH (FORCE)`));
    return;
  }
  await withMysql(config, undefined, (connection) => connection.query(`DROP DATABASE IF EXISTS ${quote(config.database, '`')}`));
}

function columnsOf(rows: readonly SampleRow[]): string[] {
  return Object.keys(rows[0] ?? {});
}

/** A database name as a quoted identifier; only plain names are accepted, so quoting cannot be escaped. */
function quote(name: string, mark: '"' | '`'): string {
  if (!IDENTIFIER.test(name)) throw new RangeError('database names for sample databases must be plain identifiers');
  return `${mark}${name}${mark}`;
}

async function withPostgres<T>(config: PostgresConfig, database: string, use: (client: pg.Client) => Promise<T>): Promise<T> {
  const ssl = tlsOptions(config.ssl);
  const client = new pg.Client({
    host: config.host, port: config.port ?? 5432, user: config.user, database, password: resolvePassword(config), ...(ssl ? { ssl } : {}),
  });
  client.on('error', () => undefined);
  await client.connect();
  try {
    return await use(client);
  } finally {
    await client.end();
  }
}

async function withMysql<T>(config: MysqlConfig, database: string | undefined, use: (connection: mysql.Connection) => Promise<T>): Promise<T> {
  const ssl = tlsOptions(config.ssl);
  const connection = await mysql.createConnection({
    host: config.host, port: config.port ?? 3306, user: config.user, password: resolvePassword(config) ?? '',
    ...(database === undefined ? {} : { database }), ...(ssl ? { ssl } : {}),
  });
  try {
    return await use(connection);
  } finally {
    await connection.end();
  }
}
