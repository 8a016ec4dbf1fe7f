// One agent serving SQLite, PostgreSQL, MariaDB and SQL Server practices at once: the same parameterised query
// through the facade gives each engine's own rows, and a copy of a PostgreSQL practice (same PMS ID) is not
// authoritative. Servers from PGHOST etc. (default 127.0.0.1:5432, user postgres) and MYSQL_URL (default
// mysql://root@127.0.0.1:3306).
//
// The SQL Server site is the TDS responder from @halo/testkit, answering from fixtures keyed by SQL text. That is
// wire-protocol coverage of the whole relay path over tedious (login, sp_executesql with typed parameters, typed
// rows, errors, streaming with backpressure, ATTENTION on cancel), not of SQL Server semantics: the responder
// parses no SQL, so what a statement means is whatever its fixture says (libs/pms/test/mssql-real.test.ts covers
// a real server when one is available).
import { test } from 'node:test';
import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import type { IncomingMessage } from 'node:http';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { getProfile, MSSQL_LOGIN_ACCESS_SQL, openConnector } from '@halo/pms';
import { createSampleServerDatabase, dropSampleServerDatabase } from '@halo/sample-practice';
import type { DatabaseConfig, MssqlConfig, MysqlConfig, PostgresConfig } from '@halo/pms';
import { normaliseSql, startTdsResponder, TDS_DEFAULT_LOGIN } from '@halo/testkit';
import type { TdsReply, TdsRequest, TdsResponder, TdsValue } from '@halo/testkit';
import { eventually, startTestSystem, SUBSCRIPTION_KEY } from '../support/system.ts';
import { drainBody } from '../support/http-stream.ts';
import { resultRows } from '../support/halo-result.ts';

type Json = Record<string, any>;

const PG_PASSWORD_ENV = 'HALO_E2E_PG_PASSWORD';
const MS_PASSWORD_ENV = 'HALO_E2E_MS_PASSWORD';
const NDJSON = { accept: 'application/x-ndjson' };

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

/** The parameterised reader query every engine answers, with its parameters as the facade takes them. */
const APPOINTMENTS = {
  text: `SELECT AptNum, PatNum, AptDateTime, ProcDescript FROM appointment
      WHERE PatNum <= @patNum AND AptDateTime >= @from ORDER BY AptNum`,
  parameters: [{ name: '@patNum', type: 'Int', value: '40' }, { name: '@from', type: 'DateTime', value: '2023-01-01T00:00:00' }],
};

// The SQL Server practice: a Best Practice database whose identity, name and enablement queries are configured
// in the agent's profileOptions (BP's schema is not public, so these stand for what a deployment would set).
const MS_DATABASE = 'BPSPatients';
const MS_PRACTICE_NAME = 'Bayside Medical';
const MS_VERSION = '1.12.0.1050';
const MS_PROFILE_OPTIONS = {
  identityQuery: 'SELECT SiteId, Version FROM dbo.Site',
  practiceNameQuery: 'SELECT TOP 1 PracticeName FROM dbo.Practice',
  enablementQuery: 'SELECT Enabled FROM dbo.Integrations WHERE Name = @integrationName',
  integrationName: 'Halo',
};
const MS_SCALAR = 'SELECT count(*) FROM appointment WHERE PatNum <= @patNum';
const MS_BROKEN = 'SELECT Nope FROM dbo.NoSuchTable';
const MS_BIG = 'SELECT i, pad FROM dbo.Numbers WHERE i <= @n ORDER BY i';
const MS_ENDLESS = 'SELECT i, pad FROM dbo.Numbers ORDER BY i';
const BIG_ROWS = 100_000;

type Appointment = [number, number, string, string];

/**
 * Fixtures standing for the BP practice. The appointments come from a sample practice file and are filtered by
 * the typed sp_executesql parameters the responder decoded, so a parameter lost or mistyped on the way changes
 * the answer.
 */
function mssqlFixtures(pmsId: string, appointments: readonly Appointment[]): (request: TdsRequest) => TdsReply | undefined {
  const pad = (i: number) => String(i).padStart(100, '0');
  const numbers = function* (last: number): Generator<TdsValue[]> { for (let i = 1; i <= last; i++) yield [i, pad(i)]; };
  const numberColumns = [{ name: 'i', type: 'int' }, { name: 'pad', type: 'varchar', length: 100 }] as const;
  const replies: Array<[text: string, reply: (request: TdsRequest) => TdsReply]> = [
    [MSSQL_LOGIN_ACCESS_SQL, () => ({
      columns: ['can_insert', 'can_update', 'can_delete', 'can_alter', 'can_create_table', 'can_execute', 'is_denydatawriter', 'is_sysadmin']
        .map((name) => ({ name, type: 'int' as const })),
      rows: [[0, 0, 0, 0, 0, 1, 1, 0]],
    })],
    [MS_PROFILE_OPTIONS.identityQuery, () => ({
      columns: [{ name: 'SiteId', type: 'nvarchar', length: 64 }, { name: 'Version', type: 'varchar', length: 32 }], rows: [[pmsId, MS_VERSION]],
    })],
    [MS_PROFILE_OPTIONS.practiceNameQuery, () => ({ columns: [{ name: 'PracticeName', type: 'nvarchar', length: 200 }], rows: [[MS_PRACTICE_NAME]] })],
    [MS_PROFILE_OPTIONS.enablementQuery, (r) => ({ columns: [{ name: 'Enabled', type: 'bit' }], rows: [[r.parameters.integrationName?.value === 'Halo']] })],
    ['SELECT DB_NAME()', () => ({ columns: [{ name: '', type: 'nvarchar', length: 128 }], rows: [[MS_DATABASE]] })],
    [APPOINTMENTS.text, (r) => {
      const patNum = Number(r.parameters.patNum?.value);
      const from = String(r.parameters.from?.value).slice(0, 19);
      return {
        columns: [
          { name: 'AptNum', type: 'int' }, { name: 'PatNum', type: 'int' }, { name: 'AptDateTime', type: 'datetime2', scale: 0 },
          { name: 'ProcDescript', type: 'nvarchar', length: 255 },
        ],
        rows: appointments.filter((a) => a[1] <= patNum && a[2] >= from),
      };
    }],
    [MS_SCALAR, (r) => ({
      columns: [{ name: '', type: 'int' }], rows: [[appointments.filter((a) => a[1] <= Number(r.parameters.patNum?.value)).length]],
    })],
    [MS_BROKEN, () => ({ error: { number: 208, message: "Invalid object name 'dbo.NoSuchTable'." } })],
    [MS_BIG, (r) => ({ columns: numberColumns, rows: numbers(Number(r.parameters.n?.value)) })],
    // Never ends by itself: only an ATTENTION stops it.
    [MS_ENDLESS, () => ({ columns: numberColumns, rows: numbers(Number.MAX_SAFE_INTEGER) })],
  ];
  const byText = new Map(replies.map(([text, reply]) => [normaliseSql(text), reply]));
  return (request) => byText.get(normaliseSql(request.sql))?.(request);
}

async function mssqlPractice(t: TestContext, pmsId: string, appointments: readonly Appointment[]): Promise<{ responder: TdsResponder; config: MssqlConfig }> {
  const responder = await startTdsResponder({ fixtures: mssqlFixtures(pmsId, appointments), database: MS_DATABASE });
  t.after(() => responder.close());
  return {
    responder,
    config: {
      engine: 'mssql', host: responder.host, port: responder.port, database: MS_DATABASE, user: TDS_DEFAULT_LOGIN.user,
      password: TDS_DEFAULT_LOGIN.password, encrypt: false,
    },
  };
}

async function serverPractice(t: TestContext, config: PostgresConfig | MysqlConfig, pmsId: string): Promise<void> {
  t.after(() => dropSampleServerDatabase(config));
  await createSampleServerDatabase(config, { pmsId, practiceName: `${pmsId} Dental`, patients: 300 });
}

test('one agent serves SQLite, PostgreSQL, MariaDB and SQL Server sites; a PostgreSQL copy registers non-authoritative', async (t) => {
  const suffix = `${process.pid}_${randomBytes(4).toString('hex')}`;
  const pmsIds = { sqlite: `E-SQ-${suffix}`, postgres: `E-PG-${suffix}`, mysql: `E-MY-${suffix}`, mssql: `E-MS-${suffix}` };
  const pg = postgres(`halo_e2e_pg_${suffix}`);
  const pgCopy = postgres(`halo_e2e_pgcopy_${suffix}`);
  const my = mysql(`halo_e2e_my_${suffix}`);
  await serverPractice(t, pg, pmsIds.postgres);
  await serverPractice(t, pgCopy, pmsIds.postgres); // a restored backup: same practice, same PMS ID
  await serverPractice(t, my, pmsIds.mysql);

  const sys = await startTestSystem();
  t.after(() => sys.close());
  const sqlitePath = sys.sampleDatabase('sq', pmsIds.sqlite);
  // The SQL Server practice's appointments, and the reference its answers are checked against.
  const msDataPath = sys.sampleDatabase('ms-data', pmsIds.mssql);
  const msData = new Database(msDataPath, { readonly: true });
  t.after(() => msData.close());
  const appointments = msData.prepare('SELECT AptNum, PatNum, AptDateTime, ProcDescript FROM appointment ORDER BY AptNum').raw().all() as Appointment[];
  const { responder, config: ms } = await mssqlPractice(t, pmsIds.mssql, appointments);
  // Passwords reach the agent from the environment and from a file, never from its config file.
  process.env[PG_PASSWORD_ENV] = process.env.PGPASSWORD ?? '';
  process.env[MS_PASSWORD_ENV] = ms.password;
  t.after(() => { delete process.env[PG_PASSWORD_ENV]; delete process.env[MS_PASSWORD_ENV]; });
  const passwordFile = join(sys.dir, 'mysql.password');
  writeFileSync(passwordFile, `${my.password}\n`, { mode: 0o600 });
  const server = ({ engine, host, port, database, user }: PostgresConfig | MysqlConfig) => ({ engine, host, port, database, user });

  const agent = await sys.startAgent('link', [
    { name: 'sq', engine: 'sqlite', path: sqlitePath, profile: 'sample' },
    { name: 'pg', ...server(pg), passwordEnv: PG_PASSWORD_ENV, profile: 'sample' },
    { name: 'my', ...server(my), passwordFile, profile: 'sample' },
    {
      name: 'ms', engine: 'mssql', host: ms.host, port: ms.port, database: ms.database, user: ms.user, passwordEnv: MS_PASSWORD_ENV,
      encrypt: false, profile: 'bp', profileOptions: MS_PROFILE_OPTIONS,
    },
    { name: 'pg-copy', ...server(pgCopy), passwordEnv: PG_PASSWORD_ENV, profile: 'sample' },
  ]);
  const site = (name: string) => {
    const found = agent.sites.find((s) => s.name === name);
    assert.ok(found, `site ${name} is served`);
    return found;
  };
  assert.deepEqual(agent.sites.map((s) => [s.name, s.pmsId]), [
    ['sq', pmsIds.sqlite], ['pg', pmsIds.postgres], ['my', pmsIds.mysql], ['ms', pmsIds.mssql], ['pg-copy', pmsIds.postgres],
  ]);
  assert.deepEqual([site('sq'), site('pg'), site('my'), site('ms')].map((s) => s.authoritative), [true, true, true, true]);
  assert.equal(site('pg-copy').authoritative, false);

  const command = APPOINTMENTS;
  const direct: Record<string, DatabaseConfig> = {
    sq: { engine: 'sqlite', path: sqlitePath }, pg: { ...pg, password: process.env.PGPASSWORD ?? '' }, my, ms,
  };
  for (const name of ['sq', 'pg', 'my', 'ms']) {
    const res = await sys.call(`/integrator/sites/${site(name).haloGuid}/queries/immediate?format=records`, { method: 'POST', body: JSON.stringify({ command }) });
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

  const msSite = site('ms').haloGuid;
  const post = async (body: object, headers: Record<string, string> = {}, query = '') =>
    sys.call(`/integrator/sites/${msSite}/queries/immediate${query}`, { method: 'POST', body: JSON.stringify(body), headers });

  await t.test('SQL Server: identity, name and catalogue come from the profileOptions queries; enablement reads the configured query', async () => {
    const lookup = (await (await sys.call(`/integrator/sites?practiceManagementSiteId=${pmsIds.mssql}&practiceManagementName=bp`)).json()) as Json;
    assert.equal(lookup.sites.length, 1);
    const found = lookup.sites[0];
    assert.equal(found.id, msSite);
    assert.equal(found.practiceMetadata.practiceName, MS_PRACTICE_NAME);
    assert.equal(found.practiceMetadata.practiceManagementSiteId, pmsIds.mssql);
    assert.deepEqual(found.catalogue, [{ name: MS_DATABASE, isDefault: true }]);
    const identityRequests = responder.requests.filter((r) => normaliseSql(r.sql) === MS_PROFILE_OPTIONS.identityQuery);
    assert.ok(identityRequests.length > 0 && identityRequests.every((r) => r.kind === 'rpc' && r.user === TDS_DEFAULT_LOGIN.user && r.database === MS_DATABASE));
    // The agent registers a site without asking the profile about enablement, so the configured enablement query
    // is run through the profile built from the same profileOptions, against the same responder.
    const connector = await openConnector(ms);
    try {
      const profile = getProfile('bp', MS_PROFILE_OPTIONS);
      assert.equal(await profile.integrationEnabled(connector), true);
      assert.equal(await profile.integrationEnabled(connector, 'Another Integration'), false);
    } finally {
      await connector.close();
    }
  });

  await t.test('SQL Server: the reader query travels as sp_executesql with typed parameters and answers the practice\'s rows', async () => {
    const request = responder.requests.findLast((r) => normaliseSql(r.sql) === normaliseSql(APPOINTMENTS.text));
    assert.ok(request);
    assert.equal(request.kind, 'rpc');
    assert.deepEqual(request.parameters.patNum, { type: 'int', value: 40 });
    assert.equal(request.parameters.from?.type, 'datetime');
    assert.equal(String(request.parameters.from?.value).slice(0, 19), '2023-01-01T00:00:00');
    // The same SQL on the practice's own rows (SQLite here) gives what the facade answered.
    const res = await post({ command }, {}, '?format=records');
    const body = (await res.json()) as Json;
    assert.deepEqual(body.result.records, msData.prepare(APPOINTMENTS.text).all({ patNum: 40, from: '2023-01-01T00:00:00' }));
    assert.deepEqual(body.result.columns.map((c: Json) => c.type), ['int', 'int', 'datetime2(0)', 'nvarchar']);
  });

  await t.test('SQL Server: scalar; a SQL error is 400 query_failed without the quoted name; a write never reaches the server', async () => {
    const scalar = await post({ command: { text: MS_SCALAR, executionMode: 'scalar', parameters: [{ name: '@patNum', type: 'Int', value: '40' }] } });
    const scalarBody = (await scalar.json()) as Json;
    assert.equal(scalar.status, 200, JSON.stringify(scalarBody));
    assert.deepEqual(Object.values(resultRows(scalarBody)[0] ?? {}), [msData.prepare(MS_SCALAR).pluck().get({ patNum: 40 })]);

    const failed = await post({ command: { text: MS_BROKEN } });
    const failedBody = (await failed.json()) as Json;
    assert.equal(failed.status, 400);
    assert.equal(failedBody.error.code, 'query_failed');
    assert.match(failedBody.error.message, /208/);
    assert.doesNotMatch(JSON.stringify(failedBody), /NoSuchTable/);

    const before = responder.requests.length;
    const write = await post({ command: { text: 'DELETE FROM appointment', executionMode: 'nonQuery' } });
    assert.equal(write.status, 403);
    assert.equal(((await write.json()) as Json).error.code, 'writes_disabled');
    assert.equal(responder.requests.length, before);
  });

  await t.test('SQL Server: a large result streams through the facade as NDJSON', async () => {
    const res = await post({ command: { text: MS_BIG, parameters: [{ name: '@n', type: 'Int', value: String(BIG_ROWS) }] } }, NDJSON);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'application/x-ndjson');
    const body = await drainBody(res);
    assert.equal(body.lines, BIG_ROWS);
    assert.deepEqual(JSON.parse(body.lastLine), { i: BIG_ROWS, pad: String(BIG_ROWS).padStart(100, '0') });
  });

  await t.test('SQL Server: a client that disconnects mid-stream cancels the statement with an ATTENTION the server acknowledges', async () => {
    const stats = { ...responder.stats };
    // node:http on a connection of its own rather than fetch: destroying it is an unambiguous disconnect, and no
    // pooled connection outlives the test to hold up the facade's close.
    const url = new URL(`${sys.facade.url}/integrator/sites/${msSite}/queries/immediate`);
    const request = httpRequest(url, {
      method: 'POST', agent: false,
      headers: { ...NDJSON, 'content-type': 'application/json', 'ocp-apim-subscription-key': SUBSCRIPTION_KEY },
    });
    request.end(JSON.stringify({ command: { text: MS_ENDLESS } }));
    const [res] = (await once(request, 'response')) as [IncomingMessage];
    assert.equal(res.statusCode, 200);
    await new Promise<void>((resolve) => {
      let got = 0;
      res.on('data', (chunk: Buffer) => {
        got += chunk.byteLength;
        if (got >= 1_000_000) {
          res.pause();
          resolve();
        }
      });
    });
    assert.equal(agent.load().inFlight, 1);
    request.destroy();
    await eventually(async () => agent.load().inFlight === 0 && responder.stats.attentionAcks > stats.attentionAcks, 10_000);
    assert.equal(responder.stats.attentions, stats.attentions + 1);
    assert.equal(responder.stats.attentionAcks, stats.attentionAcks + 1);
    // The connection that was cancelled serves the next statement.
    const next = await post({ command: { text: MS_SCALAR, parameters: [{ name: '@patNum', type: 'Int', value: '1' }] } });
    assert.equal(next.status, 200);
    assert.equal(responder.stats.connections, stats.connections);
  });
});
