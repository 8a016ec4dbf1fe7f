// Real PostgreSQL and MariaDB for the connector tests: connection settings from the environment (PGHOST, PGPORT,
// PGUSER, PGPASSWORD, PGDATABASE; MYSQL_URL), each test in its own uniquely named database, dropped afterwards.
import { randomBytes } from 'node:crypto';
import type { TestContext } from 'node:test';
import pg from 'pg';
import mysql from 'mysql2/promise';
import { openConnector } from '@halo/pms';
import { createSampleServerDatabase, dropSampleServerDatabase } from '@halo/sample-practice';
import type { Connector, MysqlConfig, PostgresConfig } from '@halo/pms';
import type { SampleDatabaseOptions } from '@halo/sample-practice';

/** The PostgreSQL server the tests use (its `database` is the one to connect to for admin work). */
export function postgresServer(): PostgresConfig {
  return {
    engine: 'postgres',
    host: process.env.PGHOST ?? '127.0.0.1',
    port: Number(process.env.PGPORT ?? 5432),
    user: process.env.PGUSER ?? 'postgres',
    database: process.env.PGDATABASE ?? 'test',
    ...(process.env.PGPASSWORD ? { password: process.env.PGPASSWORD } : {}),
  };
}

/** The MariaDB/MySQL server the tests use, from MYSQL_URL (default mysql://root@127.0.0.1:3306/test). */
export function mysqlServer(): MysqlConfig {
  const url = new URL(process.env.MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/test');
  return {
    engine: 'mysql',
    host: url.hostname,
    port: Number(url.port || 3306),
    user: decodeURIComponent(url.username || 'root'),
    database: url.pathname.slice(1) || 'test',
    ...(url.password ? { password: decodeURIComponent(url.password) } : {}),
  };
}

const cleanups = new WeakMap<TestContext, Array<() => Promise<unknown>>>();

/** Runs `fn` when the test ends, after everything registered later (last in, first out: connections before drops). */
export function deferCleanup(t: TestContext, fn: () => Promise<unknown>): void {
  let stack = cleanups.get(t);
  if (!stack) {
    const fresh: Array<() => Promise<unknown>> = [];
    stack = fresh;
    cleanups.set(t, fresh);
    t.after(async () => {
      for (const cleanup of fresh.splice(0).reverse()) await cleanup().catch(() => undefined);
    });
  }
  stack.push(fn);
}

/** A unique database name, safe to create concurrently with other test runs. */
export function uniqueName(prefix = 'halo_t'): string {
  return `${prefix}_${process.pid}_${randomBytes(4).toString('hex')}`;
}

/**
 * A fresh database on the engine's test server holding the sample practice (small unless `patients` says
 * otherwise), dropped when the test ends.
 */
export async function sampleServerDatabase<C extends PostgresConfig | MysqlConfig>(
  t: TestContext, server: C, options: Partial<SampleDatabaseOptions> = {},
): Promise<C> {
  const config = { ...server, database: uniqueName() };
  deferCleanup(t, () => dropSampleServerDatabase(config));
  await createSampleServerDatabase(config, { pmsId: 'PMS-1001', practiceName: 'Bright Smiles Dental', patients: 50, ...options });
  return config;
}

/** A connector on `config`, closed when the test ends. */
export async function connectorFor(t: TestContext, config: PostgresConfig | MysqlConfig, allowWrites = false): Promise<Connector> {
  const connector = await openConnector({ ...config, allowWrites });
  deferCleanup(t, () => connector.close());
  return connector;
}

/** A plain pg client (superuser in the test setup) on `config`'s database, for setup and checks. */
export async function postgresAdmin(t: TestContext, config: PostgresConfig): Promise<pg.Client> {
  const client = new pg.Client({ host: config.host, port: config.port, user: config.user, database: config.database, password: config.password });
  client.on('error', () => undefined);
  await client.connect();
  deferCleanup(t, () => client.end());
  return client;
}

/** A plain mysql2 connection on `config`'s database, for setup and checks. */
export async function mysqlAdmin(t: TestContext, config: MysqlConfig): Promise<mysql.Connection> {
  const connection = await mysql.createConnection({ host: config.host, port: config.port, user: config.user, database: config.database, password: config.password ?? '' });
  deferCleanup(t, () => connection.end());
  return connection;
}
