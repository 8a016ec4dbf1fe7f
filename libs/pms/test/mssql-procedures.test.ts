// Stored procedure calls on the SQL Server connector against the TDS responder: the RPC of a procedure by name,
// OUTPUT parameters sent by reference, RETURNVALUE and RETURNSTATUS read back, SQL Server's error number kept.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AppError, QueryParameter } from '@halo/contracts';
import { openMssqlConnector } from '@halo/pms';
import type { MssqlConnector, QueryInput } from '@halo/pms';
import { startTdsResponder, TDS_DEFAULT_LOGIN } from '@halo/testkit';
import type { TdsReply, TdsRequest } from '@halo/testkit';

async function open(t: { after(fn: () => unknown): void }, fixture: (request: TdsRequest) => TdsReply | undefined, allowWrites = true) {
  const requests: TdsRequest[] = [];
  const responder = await startTdsResponder({
    fixtures: (request) => {
      requests.push(request);
      if (/HAS_PERMS_BY_NAME/.test(request.sql)) return { columns: [{ name: 'x', type: 'int' }], rows: [] };
      return fixture(request);
    },
  });
  t.after(() => responder.close());
  const connector: MssqlConnector = await openMssqlConnector({
    engine: 'mssql', host: responder.host, port: responder.port, database: 'practice',
    user: TDS_DEFAULT_LOGIN.user, password: TDS_DEFAULT_LOGIN.password, encrypt: false, allowWrites,
  });
  t.after(() => connector.close());
  return { connector, requests };
}

const param = (raw: Record<string, unknown>): QueryParameter => QueryParameter.parse(raw);

function call(text: string, parameters: QueryParameter[], overrides: Partial<QueryInput> = {}): QueryInput {
  return { text, commandType: 'storedProcedure', parameters, executionMode: 'reader', deadline: Date.now() + 10_000, ...overrides };
}

test('a procedure call sends its inputs and OUTPUT parameters and returns outputs and the RETURN status', async (t) => {
  const { connector, requests } = await open(t, (r) => (r.procedure === 'dbo.PatientBalance'
    ? {
        columns: [{ name: 'PatNum', type: 'int' }], rows: [[Number(r.parameters.patNum?.value)]],
        returnStatus: 7,
        outputs: [
          { name: 'balance', column: { name: '', type: 'decimal', precision: 10, scale: 2 }, value: '125.50' },
          { name: 'note', column: { name: '', type: 'nvarchar', length: 50 }, value: `${String(r.parameters.note?.value)} seen` },
        ],
      }
    : undefined));
  const result = await connector.query(call('dbo.PatientBalance', [
    param({ name: '@patNum', type: 'Int', value: '42' }),
    param({ name: '@balance', type: 'Decimal', direction: 'output', value: null, precision: 10, scale: 2 }),
    param({ name: '@note', type: 'NVarChar', direction: 'inputOutput', value: 'Zoë', size: 50 }),
    param({ name: '@status', type: 'Int', direction: 'returnValue', value: null }),
  ]));
  assert.deepEqual(result.rows, [[42]]);
  const sent = requests.find((r) => r.procedure === 'dbo.PatientBalance');
  assert.ok(sent, 'the procedure was called by name, not through sp_executesql');
  // The returnValue parameter is not sent; output and inputOutput go by reference.
  assert.deepEqual(Object.keys(sent.parameters), ['patNum', 'balance', 'note']);
  assert.deepEqual(sent.outputNames, ['balance', 'note']);
  const summary = await connector.stream(call('dbo.PatientBalance', [
    param({ name: '@patNum', type: 'Int', value: '1' }),
    param({ name: '@balance', type: 'Decimal', direction: 'output', value: null, precision: 10, scale: 2 }),
    param({ name: '@note', type: 'NVarChar', direction: 'inputOutput', value: 'Ann', size: 50 }),
    param({ name: '@status', type: 'Int', direction: 'returnValue', value: null }),
  ]));
  for await (const batch of summary) assert.ok(batch.length > 0);
  assert.deepEqual(summary.summary().parameters, [
    { name: '@balance', direction: 'output', type: 'Decimal', value: '125.50' },
    { name: '@note', direction: 'inputOutput', type: 'NVarChar', value: 'Ann seen', size: 50 },
    { name: '@status', direction: 'returnValue', type: 'Int', value: '7' },
  ]);
});

test('scalar and nonQuery procedure calls still read the output values that come after the rows', async (t) => {
  const { connector } = await open(t, (r) => (r.procedure === 'CountVisits'
    ? r.parameters.mode?.value === 'rows'
      ? { columns: [{ name: 'n', type: 'int' }], rows: [[3], [4]], outputs: [{ name: 'total', column: { name: '', type: 'int' }, value: 7 }] }
      : { rowsAffected: 2, outputs: [{ name: 'total', column: { name: '', type: 'int' }, value: 2 }] }
    : undefined));
  const total = param({ name: 'total', type: 'Int', direction: 'output', value: null });
  const scalar = await connector.stream(call('CountVisits', [param({ name: 'mode', type: 'VarChar', value: 'rows' }), total], { executionMode: 'scalar' }));
  const rows = [];
  for await (const batch of scalar) rows.push(...batch);
  assert.deepEqual(rows, [[3]]);
  assert.deepEqual(scalar.summary().parameters, [{ name: 'total', direction: 'output', type: 'Int', value: '7' }]);
  const write = await connector.stream(call('CountVisits', [param({ name: 'mode', type: 'VarChar', value: 'write' }), total], { executionMode: 'nonQuery' }));
  for await (const _ of write) assert.fail('a nonQuery has no rows');
  assert.equal(write.summary().affected, 2);
  assert.deepEqual(write.summary().parameters, [{ name: 'total', direction: 'output', type: 'Int', value: '2' }]);
});

test('a failing procedure keeps SQL Server\'s error number and a redacted message', async (t) => {
  const { connector } = await open(t, (r) => (r.procedure === 'dbo.Fails'
    ? { error: { number: 547, message: "The INSERT statement conflicted with the FOREIGN KEY constraint 'FK_x'. Value 'Smith'." } }
    : undefined));
  await assert.rejects(connector.query(call('dbo.Fails', [])), (error: unknown) => {
    assert.ok(error instanceof AppError);
    assert.equal(error.code, 'query_failed');
    assert.equal(error.sqlServerError, 547);
    assert.doesNotMatch(error.message, /Smith|FK_x/);
    return true;
  });
});

test('procedure calls are refused on a read-only database, and bad names and directions before anything is sent', async (t) => {
  const { connector: readOnly } = await open(t, () => ({ rowsAffected: 0 }), false);
  await assert.rejects(readOnly.query(call('dbo.Anything', [])), (e: unknown) => e instanceof AppError && e.code === 'writes_disabled');
  const { connector, requests } = await open(t, () => ({ rowsAffected: 0 }));
  const before = requests.length;
  await assert.rejects(connector.query(call('dbo.p; DROP TABLE x', [])), (e: unknown) => e instanceof AppError && e.code === 'bad_request' && /procedure's name/.test(e.message));
  await assert.rejects(connector.query({ ...call('SELECT 1', [param({ name: 'o', type: 'Int', direction: 'output', value: null })]), commandType: 'text' }),
    (e: unknown) => e instanceof AppError && e.code === 'bad_request' && /needs command type storedProcedure/.test(e.message));
  assert.equal(requests.length, before);
  // [bracketed] parts are SQL Server names too.
  await connector.query(call('[dbo].[Do It]', [], { executionMode: 'nonQuery' }));
  assert.equal(requests.at(-1)?.procedure, '[dbo].[Do It]');
});
