// Stored procedures through the facade, immediate and async: SQL Server (TDS responder: procedure RPC, OUTPUT
// parameters, RETURN status) and PostgreSQL (CALL with INOUT/OUT) answer result.parameters; a SQL Server error
// is errorDetails {errorType: mssql, errorCode: its number}; SQLite and a read-only SQL Server site refuse with
// stable codes. Answers are checked against our OpenAPI (/docs/json) with ajv.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { createSampleServerDatabase, dropSampleServerDatabase } from '@halo/sample-practice';
import { startTdsResponder, TDS_DEFAULT_LOGIN } from '@halo/testkit';
import type { TdsReply, TdsRequest } from '@halo/testkit';
import { eventually, startAsyncTestSystem } from '../support/async-system.ts';
import { assertDocumented } from '../support/openapi-check.ts';

type Json = Record<string, any>;

const MS_OPTIONS = {
  identityQuery: 'SELECT SiteId, Version FROM dbo.Site',
  practiceNameQuery: 'SELECT TOP 1 PracticeName FROM dbo.Practice',
  enablementQuery: 'SELECT Enabled FROM dbo.Integrations WHERE Name = @integrationName',
  integrationName: 'Halo',
};

function msFixture(pmsId: string) {
  return (r: TdsRequest): TdsReply | undefined => {
    if (r.procedure === 'dbo.PatientBalance') {
      return {
        columns: [{ name: 'PatNum', type: 'int' }], rows: [[Number(r.parameters.patNum?.value)]], returnStatus: 3,
        outputs: [{ name: 'balance', column: { name: '', type: 'decimal', precision: 10, scale: 2 }, value: '12.50' }],
      };
    }
    if (r.procedure === 'dbo.Fails') return { error: { number: 2627, message: "Violation of PRIMARY KEY constraint 'PK_x'. The duplicate key value is (Smith)." } };
    if (r.sql === MS_OPTIONS.identityQuery) return { columns: [{ name: 'SiteId', type: 'nvarchar', length: 64 }, { name: 'Version', type: 'varchar', length: 32 }], rows: [[pmsId, '1.0']] };
    if (r.sql === MS_OPTIONS.practiceNameQuery) return { columns: [{ name: 'PracticeName', type: 'nvarchar', length: 200 }], rows: [['Bayside']] };
    if (r.sql === MS_OPTIONS.enablementQuery) return { columns: [{ name: 'Enabled', type: 'bit' }], rows: [[true]] };
    if (/HAS_PERMS_BY_NAME/.test(r.sql)) {
      const columns = ['can_insert', 'can_update', 'can_delete', 'can_alter', 'can_create_table', 'can_execute', 'is_denydatawriter', 'is_sysadmin'];
      return { columns: columns.map((name) => ({ name, type: 'int' as const })), rows: [[0, 0, 0, 0, 0, 1, 1, 0]] };
    }
    if (r.sql === 'SELECT DB_NAME()') return { columns: [{ name: '', type: 'nvarchar', length: 128 }], rows: [['BPS']] };
    return undefined;
  };
}

const BALANCE = {
  text: 'dbo.PatientBalance', type: 'storedProcedure',
  parameters: [
    { name: '@patNum', type: 'Int', value: '7' },
    { name: '@balance', type: 'Decimal', direction: 'output', value: null, precision: 10, scale: 2 },
    { name: '@status', type: 'Int', direction: 'returnValue', value: null },
  ],
};
const MS_OUTPUTS = [
  { name: '@balance', direction: 'output', type: 'Decimal', value: '12.50' },
  { name: '@status', direction: 'returnValue', type: 'Int', value: '3' },
];
const PG_CALL = {
  text: 'note_for', type: 'storedProcedure', executionMode: 'nonQuery',
  parameters: [{ name: 'pat', type: 'Int', value: '5' }, { name: 'note', type: 'NVarChar', direction: 'inputOutput', value: 'hi' }],
};

test('stored procedures answer result.parameters immediate and async; SQL Server errors carry their number', async (t) => {
  const suffix = `${process.pid}_${randomBytes(4).toString('hex')}`;
  const responders = await Promise.all([`E-MS-${suffix}`, `E-MR-${suffix}`].map(async (pmsId) => {
    const responder = await startTdsResponder({ fixtures: msFixture(pmsId), database: 'BPS' });
    t.after(() => responder.close());
    return responder;
  }));
  const pgConfig = { engine: 'postgres' as const, host: process.env.PGHOST ?? '127.0.0.1', port: Number(process.env.PGPORT ?? 5432), user: process.env.PGUSER ?? 'postgres', database: `halo_e2e_proc_${suffix}` };
  t.after(() => dropSampleServerDatabase(pgConfig));
  await createSampleServerDatabase(pgConfig, { pmsId: `E-PG-${suffix}`, practiceName: 'PG Dental', patients: 5 });
  const admin = new pg.Client({ ...pgConfig, password: process.env.PGPASSWORD });
  await admin.connect();
  await admin.query("CREATE PROCEDURE note_for(IN pat int, INOUT note text) LANGUAGE plpgsql AS $$ BEGIN note := note || ' ' || pat; END $$");
  await admin.end();

  const sys = await startAsyncTestSystem();
  t.after(() => sys.close());
  // Passwords reach the agent from the environment, never from its config file.
  process.env.HALO_E2E_PROC_PASSWORD = TDS_DEFAULT_LOGIN.password;
  process.env.HALO_E2E_PROC_PG_PASSWORD = process.env.PGPASSWORD ?? '';
  t.after(() => { delete process.env.HALO_E2E_PROC_PASSWORD; delete process.env.HALO_E2E_PROC_PG_PASSWORD; });
  const ms = (name: string, port: number, allowWrites: boolean) => ({
    name, engine: 'mssql', host: '127.0.0.1', port, database: 'BPS', user: TDS_DEFAULT_LOGIN.user, passwordEnv: 'HALO_E2E_PROC_PASSWORD',
    encrypt: false, profile: 'bp', profileOptions: MS_OPTIONS, allowWrites,
  });
  const agent = await sys.startAgent('link', [
    ms('ms', responders[0]!.port, true),
    ms('ms-ro', responders[1]!.port, false),
    { name: 'pg', ...pgConfig, passwordEnv: 'HALO_E2E_PROC_PG_PASSWORD', profile: 'sample' },
    { name: 'sq', path: sys.sampleDatabase('sq', `E-SQ-${suffix}`) },
  ]);
  const site = (name: string) => agent.sites.find((s) => s.name === name)!.haloGuid;
  const QUERY = '/integrator/sites/{siteId}/queries/{queryId}';
  const IMMEDIATE = '/integrator/sites/{siteId}/queries/immediate';
  const documented = (route: string, status: number, body: unknown) => assertDocumented(sys.facade().url, route === IMMEDIATE ? 'POST' : 'GET', route, status, body);
  const immediate = async (name: string, command: Json) => {
    const res = await sys.call(`/integrator/sites/${site(name)}/queries/immediate`, { method: 'POST', body: JSON.stringify({ command }) });
    return { status: res.status, body: (await res.json()) as Json };
  };
  const async = async (name: string, command: Json): Promise<Json> => {
    const res = await sys.call(`/integrator/sites/${site(name)}/queries/async`, { method: 'POST', body: JSON.stringify({ command }) });
    assert.equal(res.status, 201);
    const { id } = (await res.json()) as Json;
    return eventually(async () => {
      const body = (await (await sys.call(`/integrator/sites/${site(name)}/queries/${id}`)).json()) as Json;
      assert.ok(['successful', 'executionFailed'].includes(body.status), body.status);
      return body;
    });
  };

  const msNow = await immediate('ms', BALANCE);
  assert.equal(msNow.status, 200, JSON.stringify(msNow.body));
  await documented(IMMEDIATE, 200, msNow.body);
  assert.deepEqual(JSON.parse(Buffer.from(msNow.body.result.data, 'base64').toString()), [{ PatNum: 7 }]);
  assert.deepEqual(msNow.body.result.parameters, MS_OUTPUTS);
  const records = await (await sys.call(`/integrator/sites/${site('ms')}/queries/immediate?format=records`, { method: 'POST', body: JSON.stringify({ command: BALANCE }) })).json() as Json;
  assert.deepEqual([records.result.records, records.result.parameters], [[{ PatNum: 7 }], MS_OUTPUTS]);
  const msLater = await async('ms', BALANCE);
  await documented(QUERY, 200, msLater);
  assert.equal(msLater.status, 'successful');
  assert.deepEqual(msLater.result.parameters, MS_OUTPUTS);

  const pgNow = await immediate('pg', PG_CALL);
  assert.equal(pgNow.status, 403, 'a nonQuery needs allowWrites');
  const pgRead = await immediate('pg', { ...PG_CALL, executionMode: 'reader' });
  assert.equal(pgRead.status, 200, JSON.stringify(pgRead.body));
  assert.deepEqual(pgRead.body.result.parameters, [{ name: 'note', direction: 'inputOutput', type: 'NVarChar', value: 'hi 5' }]);
  await documented(IMMEDIATE, 200, pgRead.body);
  const pgLater = await async('pg', { ...PG_CALL, executionMode: 'reader' });
  assert.deepEqual(pgLater.result.parameters, pgRead.body.result.parameters);

  // SQL Server's own error number travels; the quoted parts of its message (data, names) do not.
  const failed = await immediate('ms', { text: 'dbo.Fails', type: 'storedProcedure' });
  assert.equal(failed.status, 400);
  await documented(IMMEDIATE, 400, failed.body);
  assert.equal(failed.body.errorDetails.errorType, 'mssql');
  assert.equal(failed.body.errorDetails.errorCode, 2627);
  assert.doesNotMatch(JSON.stringify(failed.body), /PK_x/);
  const failedLater = await async('ms', { text: 'dbo.Fails', type: 'storedProcedure' });
  assert.equal(failedLater.status, 'executionFailed');
  assert.deepEqual([failedLater.errorDetails.errorType, failedLater.errorDetails.errorCode], ['mssql', 2627]);
  await documented(QUERY, 200, failedLater);
  const kept = (await (await sys.call(`/integrator/sites/${site('ms')}/queries/${failed.body.id}`)).json()) as Json;
  assert.deepEqual([kept.errorDetails.errorType, kept.errorDetails.errorCode], ['mssql', 2627]);

  const readOnly = await immediate('ms-ro', BALANCE);
  assert.equal(readOnly.status, 403);
  assert.equal(readOnly.body.error.code, 'writes_disabled');
  const sqlite = await immediate('sq', { text: 'GetPatient', type: 'storedProcedure' });
  assert.equal(sqlite.status, 400);
  assert.equal(sqlite.body.error.code, 'procedures_not_supported');
});
