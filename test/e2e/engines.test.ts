// One agent serving SQLite, PostgreSQL and MariaDB practices at once: the same parameterised query through the
// facade gives each engine's own rows, and a copy of a PostgreSQL practice (same PMS ID) is not authoritative.
// Servers from PGHOST etc. (default 127.0.0.1:5432, user postgres) and MYSQL_URL (default mysql://root@127.0.0.1:3306).
import { test } from 'node:test';
import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createSampleServerDatabase, dropSampleServerDatabase, openConnector } from '@halo/pms';
import type { DatabaseConfig, MysqlConfig, PostgresConfig } from '@halo/pms';
import { startTestSystem } from '../support/system.ts';

type Json = Record<string, any>;

const PG_PASSWORD_ENV = 'HALO_E2E_PG_PASSWORD';

function postgres(database: string): PostgresConfig {
  return {
    engine: 'postgres', host: process.env.PGHOST ?? '127.0.0.1', port: Number(process.env.PGPORT ?? 5432), user: process.env.PGUSER ?? 'postgres', database,
  };
}

function mysql(database: string): MysqlConfig & { password: string } {
  const url = new URL(process.env.MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/test');
  return {
    engine: 'mysql', host: url.hostname, port: Number(url.port || 3306), user: decodeURIComponent(url.username || 'root'), database,
    password: decodeURIComponent(url.password),
  };
}

async function serverPractice(t: TestContext, config: PostgresConfig | MysqlConfig, pmsId: string): Promise<void> {
  t.after(() => dropSampleServerDatabase(config));
  await createSampleServerDatabase(config, { pmsId, practiceName: `${pmsId} Dental`, patients: 300 });
}

test('one agent serves SQLite, PostgreSQL and MariaDB sites; a PostgreSQL copy registers non-authoritative', async (t) => {
  const suffix = `${process.pid}_${randomBytes(4).toString('hex')}`;
  const pmsIds = { sqlite: `E-SQ-${suffix}`, postgres: `E-PG-${suffix}`, mysql: `E-MY-${suffix}` };
  const pg = postgres(`halo_e2e_pg_${suffix}`);
  const pgCopy = postgres(`halo_e2e_pgcopy_${suffix}`);
  const my = mysql(`halo_e2e_my_${suffix}`);
  await serverPractice(t, pg, pmsIds.postgres);
  await serverPractice(t, pgCopy, pmsIds.postgres); // a restored backup: same practice, same PMS ID
  await serverPractice(t, my, pmsIds.mysql);

  const sys = await startTestSystem();
  t.after(() => sys.close());
  const sqlitePath = sys.sampleDatabase('sq', pmsIds.sqlite);
  // Passwords reach the agent from the environment and from a file, never from its config file.
  process.env[PG_PASSWORD_ENV] = process.env.PGPASSWORD ?? '';
  t.after(() => { delete process.env[PG_PASSWORD_ENV]; });
  const passwordFile = join(sys.dir, 'mysql.password');
  writeFileSync(passwordFile, `${my.password}\n`, { mode: 0o600 });
  const server = ({ engine, host, port, database, user }: PostgresConfig | MysqlConfig) => ({ engine, host, port, database, user });

  const agent = await sys.startAgent('link', [
    { name: 'sq', engine: 'sqlite', path: sqlitePath, profile: 'sample' },
    { name: 'pg', ...server(pg), passwordEnv: PG_PASSWORD_ENV, profile: 'sample' },
    { name: 'my', ...server(my), passwordFile, profile: 'sample' },
    { name: 'pg-copy', ...server(pgCopy), passwordEnv: PG_PASSWORD_ENV, profile: 'sample' },
  ]);
  const site = (name: string) => {
    const found = agent.sites.find((s) => s.name === name);
    assert.ok(found, `site ${name} is served`);
    return found;
  };
  assert.deepEqual(agent.sites.map((s) => [s.name, s.pmsId]), [
    ['sq', pmsIds.sqlite], ['pg', pmsIds.postgres], ['my', pmsIds.mysql], ['pg-copy', pmsIds.postgres],
  ]);
  assert.deepEqual([site('sq'), site('pg'), site('my')].map((s) => s.authoritative), [true, true, true]);
  assert.equal(site('pg-copy').authoritative, false);

  const command = {
    text: `SELECT AptNum, PatNum, AptDateTime, ProcDescript FROM appointment
      WHERE PatNum <= @patNum AND AptDateTime >= @from ORDER BY AptNum`,
    parameters: [{ name: '@patNum', type: 'Int', value: '40' }, { name: '@from', type: 'DateTime', value: '2023-01-01T00:00:00' }],
  };
  const direct: Record<string, DatabaseConfig> = {
    sq: { engine: 'sqlite', path: sqlitePath }, pg: { ...pg, password: process.env.PGPASSWORD ?? '' }, my,
  };
  for (const name of ['sq', 'pg', 'my']) {
    const res = await sys.call(`/integrator/sites/${site(name).haloGuid}/queries/immediate`, { method: 'POST', body: JSON.stringify({ command }) });
    const body = (await res.json()) as Json;
    assert.equal(res.status, 200, `${name}: ${JSON.stringify(body)}`);
    const connector = await openConnector(direct[name]!);
    try {
      const expected = await connector.query({ ...command, parameters: command.parameters.map((p) => ({ ...p, direction: 'input' as const, type: p.type as 'Int' })), executionMode: 'reader', deadline: Date.now() + 10_000 });
      assert.ok(expected.rowCount > 10, `${name}: ${expected.rowCount} rows`);
      assert.deepEqual(body.result.columns, expected.columns, name);
      const records = expected.rows.map((row) => Object.fromEntries(expected.columns.map((c, i) => [c.name, row[i]])));
      assert.deepEqual(body.result.records, records, name);
    } finally {
      await connector.close();
    }
  }

  const refused = await sys.call(`/integrator/sites/${site('pg-copy').haloGuid}/queries/immediate`, { method: 'POST', body: JSON.stringify({ command }) });
  assert.equal(refused.status, 403);
  assert.equal(((await refused.json()) as Json).error.code, 'site_not_authoritative');
});
