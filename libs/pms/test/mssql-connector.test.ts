// The SQL Server connector against the TDS responder from @halo/testkit: wire-protocol coverage of the tedious
// path (login, sp_executesql RPC with typed parameters, rows, errors, ATTENTION), not of SQL Server semantics.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AppError } from '@halo/contracts';
import { getProfile, MSSQL_WRITABLE_LOGIN_WARNING, openMssqlConnector } from '@halo/pms';
import type { MssqlConfig, MssqlConnector, QueryInput } from '@halo/pms';
import { startTdsResponder, TDS_DEFAULT_LOGIN } from '@halo/testkit';
import type { TdsReply, TdsRequest, TdsResponder, TdsValue } from '@halo/testkit';

type Fixture = (request: TdsRequest) => TdsReply | undefined;

const READ_ONLY_LOGIN: TdsReply = {
  columns: ['can_insert', 'can_update', 'can_delete', 'can_alter', 'can_create_table', 'can_execute', 'is_denydatawriter', 'is_sysadmin']
    .map((name) => ({ name, type: 'int' as const })),
  rows: [[0, 0, 0, 0, 0, 1, 1, 0]],
};

const TYPES_REPLY: TdsReply = {
  columns: [
    { name: 'i', type: 'int' }, { name: 'b', type: 'bigint' }, { name: 's', type: 'smallint' }, { name: 't', type: 'tinyint' },
    { name: 'bit', type: 'bit' }, { name: 'f', type: 'float' }, { name: 'd', type: 'decimal', precision: 12, scale: 3 },
    { name: 'nv', type: 'nvarchar', length: 50 }, { name: 'v', type: 'varchar', length: 50 },
    { name: 'dt2', type: 'datetime2', scale: 7 }, { name: 'dt', type: 'datetime' }, { name: 'g', type: 'uniqueidentifier' },
    { name: 'vb', type: 'varbinary', length: 16 }, { name: 'da', type: 'date' },
  ],
  rows: [
    [42, '9223372036854775807', -7, 255, true, 1.25, '123456789.125', 'Zoë ✓', 'plain', '2024-02-29T13:14:15.1234567',
      '2024-02-29T13:14:15.123', '6F9619FF-8B86-D011-B42D-00C04FC964FF', Buffer.from([0, 1, 2, 253]), '2024-01-02'],
    Array<TdsValue>(14).fill(null),
  ],
};

async function setup(t: { after(fn: () => unknown): void }, fixture: Fixture, logins?: Record<string, string>, access: TdsReply = READ_ONLY_LOGIN) {
  const responder = await startTdsResponder({
    fixtures: (request) => (/HAS_PERMS_BY_NAME/.test(request.sql) ? access : fixture(request)),
    ...(logins ? { logins } : {}),
  });
  t.after(() => responder.close());
  return responder;
}

function config(responder: TdsResponder, overrides: Partial<MssqlConfig> = {}): MssqlConfig {
  return {
    engine: 'mssql', host: responder.host, port: responder.port, database: 'practice',
    user: TDS_DEFAULT_LOGIN.user, password: TDS_DEFAULT_LOGIN.password, encrypt: false, ...overrides,
  };
}

async function open(t: { after(fn: () => unknown): void }, responder: TdsResponder, overrides: Partial<MssqlConfig> = {}): Promise<MssqlConnector> {
  const connector = await openMssqlConnector(config(responder, overrides));
  t.after(() => connector.close());
  return connector;
}

function reader(text: string, overrides: Partial<QueryInput> = {}): QueryInput {
  return { text, parameters: [], executionMode: 'reader', deadline: Date.now() + 10_000, ...overrides };
}

const code = (expected: string) => (error: unknown) => error instanceof AppError && error.code === expected;

test('maps ~14 SQL Server types to JSON-safe cells', async (t) => {
  const responder = await setup(t, (r) => (r.sql === 'SELECT * FROM types' ? TYPES_REPLY : undefined));
  const connector = await open(t, responder);
  assert.equal(connector.loginAccess?.canWrite, false);
  const result = await connector.query(reader('SELECT * FROM types'));
  assert.deepEqual(result.columns.map((c) => c.type), [
    'int', 'bigint', 'smallint', 'tinyint', 'bit', 'float', 'decimal(12,3)', 'nvarchar', 'varchar', 'datetime2(7)',
    'datetime', 'uniqueidentifier', 'varbinary', 'date',
  ]);
  assert.deepEqual(result.rows[0], [
    42, '9223372036854775807', -7, 255, true, 1.25, '123456789.125', 'Zoë ✓', 'plain', '2024-02-29T13:14:15.1234567',
    '2024-02-29T13:14:15.123', '6F9619FF-8B86-D011-B42D-00C04FC964FF', 'AAEC/Q==', '2024-01-02',
  ]);
  assert.deepEqual(result.rows[1], Array(14).fill(null));
  assert.equal(result.rowCount, 2);
  assert.equal(result.bytes, Buffer.byteLength(JSON.stringify(result.rows)));
});

test('encoded rows are the records query() reads (types included), with the cell-array sizes and limits as before', async (t) => {
  const [full, empty] = [...(TYPES_REPLY.rows as Iterable<readonly TdsValue[]>)];
  const many: TdsReply = { columns: TYPES_REPLY.columns, rows: Array.from({ length: 60 }, (_, i) => (i % 2 === 0 ? full! : empty!)) };
  const responder = await setup(t, (r) => (r.sql === "SELECT * FROM types" ? many : undefined));
  const connector = await open(t, responder);
  const cells = await connector.query(reader("SELECT * FROM types"));
  const expected = cells.rows.map((row) => Object.fromEntries(cells.columns.map((c, i) => [c.name, row[i] ?? null])));
  for (const format of ["json", "ndjson"] as const) {
    const cursor = await connector.streamEncoded(reader("SELECT * FROM types", { batchBytes: 2048 }), format);
    const parts: string[] = [];
    let count = 0;
    for await (const batch of cursor) {
      assert.equal(batch.bytes, Buffer.byteLength(batch.text));
      parts.push(batch.text);
      count += batch.count;
    }
    assert.ok(parts.length > 1, `${parts.length} batches`);
    const records = format === "json" ? JSON.parse(`[${parts.join(",")}]`) : parts.join("").trimEnd().split("\n").map((line) => JSON.parse(line));
    assert.deepEqual(records, expected, format);
    assert.equal(count, 60);
    assert.equal(cursor.summary().bytes, cells.bytes);
  }
  await assert.rejects(async () => {
    for await (const _ of await connector.streamEncoded(reader("SELECT * FROM types", { maxRowBytes: 50 }), "json")) { /* drain */ }
  }, (error: unknown) => error instanceof AppError && error.code === "resource_limit_exceeded");
});

test('parameters travel typed through sp_executesql', async (t) => {
  let seen: TdsRequest | undefined;
  const responder = await setup(t, (r) => {
    if (!r.sql.startsWith('SELECT p')) return undefined;
    seen = r;
    return { columns: [{ name: 'one', type: 'int' }], rows: [[1]] };
  });
  const connector = await open(t, responder);
  const p = (name: string, type: string, value: string | null) => ({ name, direction: 'input' as const, type: type as 'Int', value });
  await connector.query(reader('SELECT p FROM t WHERE a = @patNum', {
    parameters: [
      p('@patNum', 'Int', '42'), p('big', 'BigInt', '9007199254740993'), p('@name', 'NVarChar', "O'Brien"),
      p('@code', 'VarChar', 'abc'), p('@amount', 'Decimal', '1234.567'), p('@when', 'DateTime2', '2024-03-04T05:06:07.1234567'),
      p('@day', 'Date', '2024-03-04'), p('@id', 'UniqueIdentifier', '6f9619ff-8b86-d011-b42d-00c04fc964ff'),
      p('@flag', 'Bit', 'true'), p('@blob', 'VarBinary', 'AAEC/Q=='), p('@ratio', 'Float', '0.5'), p('@nothing', 'Int', null),
    ],
  }));
  assert.ok(seen);
  assert.equal(seen.kind, 'rpc');
  const v = (name: string) => seen?.parameters[name];
  assert.deepEqual(v('patNum'), { type: 'int', value: 42 });
  assert.deepEqual(v('big'), { type: 'bigint', value: 9007199254740993n });
  assert.deepEqual(v('name'), { type: 'nvarchar', value: "O'Brien" });
  assert.deepEqual(v('code'), { type: 'varchar', value: 'abc' });
  assert.deepEqual(v('amount'), { type: 'decimal', value: '1234.567', precision: 7, scale: 3 });
  assert.deepEqual(v('when'), { type: 'datetime2', value: '2024-03-04T05:06:07.1234567', scale: 7 });
  assert.deepEqual(v('day'), { type: 'date', value: '2024-03-04' });
  assert.deepEqual(v('id'), { type: 'uniqueidentifier', value: '6F9619FF-8B86-D011-B42D-00C04FC964FF' });
  assert.deepEqual(v('flag'), { type: 'bit', value: true });
  assert.deepEqual(v('blob'), { type: 'varbinary', value: Buffer.from([0, 1, 2, 253]) });
  assert.deepEqual(v('ratio'), { type: 'float', value: 0.5 });
  assert.equal(v('nothing')?.value, null);
  assert.match(seen.declaration, /@patNum int/);
  await assert.rejects(connector.query(reader('SELECT p', { parameters: [p('@x', 'Int', 'abc')] })), code('bad_request'));
});

test('decimals and money travel with every digit; out-of-range values are refused before the server', async (t) => {
  let seen: TdsRequest | undefined;
  const responder = await setup(t, (r) => {
    if (!r.sql.startsWith('SELECT p')) return undefined;
    seen = r;
    return { columns: [{ name: 'one', type: 'int' }], rows: [[1]] };
  });
  const connector = await open(t, responder);
  const p = (name: string, type: string, value: string | null, shape: { precision?: number; scale?: number } = {}) =>
    ({ name, direction: 'input' as const, type: type as 'Int', value, ...shape });
  await connector.query(reader('SELECT p', {
    parameters: [
      p('@big', 'Decimal', '99999999999999999999'), p('@wide', 'Decimal', `-${'9'.repeat(30)}.${'1'.repeat(8)}`),
      p('@shaped', 'Decimal', '12.5', { precision: 10, scale: 4 }), p('@none', 'Decimal', null),
      p('@max', 'Money', '922337203685477.5807'), p('@min', 'Money', '-922337203685477.5808'), p('@cents', 'Money', '-0.01'),
      p('@small', 'SmallMoney', '-214748.3648'),
    ],
  }));
  const v = (name: string) => seen?.parameters[name];
  assert.deepEqual(v('big'), { type: 'decimal', value: '99999999999999999999', precision: 20, scale: 0 });
  assert.deepEqual(v('wide'), { type: 'decimal', value: `-${'9'.repeat(30)}.${'1'.repeat(8)}`, precision: 38, scale: 8 });
  assert.deepEqual(v('shaped'), { type: 'decimal', value: '12.5000', precision: 10, scale: 4 });
  assert.equal(v('none')?.value, null);
  assert.deepEqual(v('max'), { type: 'money', value: '922337203685477.5807' });
  assert.deepEqual(v('min'), { type: 'money', value: '-922337203685477.5808' });
  assert.deepEqual(v('cents'), { type: 'money', value: '-0.0100' });
  assert.deepEqual(v('small'), { type: 'smallmoney', value: '-214748.3648' });
  seen = undefined;
  await assert.rejects(connector.query(reader('SELECT p', { parameters: [p('@price', 'Money', '922337203685477.5808')] })),
    (e: unknown) => e instanceof AppError && e.code === 'bad_request' && /@price is out of range for Money/.test(e.message));
  await assert.rejects(connector.query(reader('SELECT p', { parameters: [p('@d', 'Decimal', '1234', { precision: 5, scale: 2 })] })), code('bad_request'));
  assert.equal(seen, undefined);
});

test('SQL errors become query_failed without SQL text or values', async (t) => {
  const responder = await setup(t, (r) => r.sql.includes('broken')
    ? { error: { number: 245, message: "Conversion failed when converting the nvarchar value 'Smith' to data type int." } }
    : undefined);
  const connector = await open(t, responder);
  const error = await connector.query(reader("SELECT broken FROM patient WHERE LName = 'Smith'")).catch((e: unknown) => e);
  assert.ok(error instanceof AppError);
  assert.equal(error.code, 'query_failed');
  assert.match(error.message, /245/);
  assert.doesNotMatch(error.message, /Smith|SELECT|patient/);
  // The connection is still good.
  await assert.rejects(connector.query(reader('SELECT unknown_fixture')), code('query_failed'));
});

test('writes are refused before they reach the server', async (t) => {
  const responder = await setup(t, () => ({ rowsAffected: 1 }));
  const connector = await open(t, responder);
  const before = responder.requests.length;
  for (const text of ['DELETE FROM patient', 'SELECT * INTO copy FROM patient', 'EXEC sp_who', 'UPDATE patient SET x = 1']) {
    await assert.rejects(connector.query(reader(text)), code('writes_disabled'), text);
  }
  await assert.rejects(connector.query(reader('DELETE FROM patient', { executionMode: 'nonQuery' })), code('writes_disabled'));
  assert.equal(responder.requests.length, before);
  const writer = await open(t, responder, { allowWrites: true });
  const result = await writer.query(reader('DELETE FROM patient', { executionMode: 'nonQuery' }));
  assert.equal(result.affected, 1);
});

test('a login that can write gets a loud warning at start-up', async (t) => {
  const writable: TdsReply = { ...READ_ONLY_LOGIN, rows: [[1, 1, 1, 1, 1, 1, 0, 1]] } as TdsReply;
  const responder = await setup(t, () => undefined, undefined, writable);
  const warnings: Error[] = [];
  const onWarning = (w: Error) => warnings.push(w);
  process.on('warning', onWarning);
  t.after(() => process.off('warning', onWarning));
  const connector = await open(t, responder);
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(connector.loginAccess?.canWrite, true);
  assert.deepEqual(connector.loginAccess?.findings, ['INSERT', 'UPDATE', 'DELETE', 'ALTER', 'CREATE TABLE', 'sysadmin', 'not in db_denydatawriter']);
  const warning = warnings.find((w) => (w as Error & { code?: string }).code === MSSQL_WRITABLE_LOGIN_WARNING);
  assert.ok(warning);
  assert.match(warning.message, /CAN WRITE.*db_denydatawriter/s);
  assert.doesNotMatch(warning.message, new RegExp(TDS_DEFAULT_LOGIN.password.replace(/[!]/g, '\\$&')));
});

test('deadline past the first packet sends ATTENTION; the server acknowledges and the connector stays usable', async (t) => {
  const endless = function* () { for (let i = 0; ; i++) yield [i]; };
  const responder = await setup(t, (r) => {
    if (r.sql === 'SELECT slow') return { columns: [{ name: 'n', type: 'int' }], rows: endless(), rowDelayMs: 20 };
    if (r.sql === 'SELECT 1 AS one') return { columns: [{ name: 'one', type: 'int' }], rows: [[1]] };
    return undefined;
  });
  const connector = await open(t, responder);
  const started = Date.now();
  await assert.rejects(connector.query(reader('SELECT slow', { deadline: Date.now() + 300 })), code('deadline_exceeded'));
  assert.ok(Date.now() - started < 3_000, 'stopped near the deadline, not by tedious giving up');
  assert.equal(responder.stats.attentions, 1);
  assert.equal(responder.stats.attentionAcks, 1);
  assert.deepEqual((await connector.query(reader('SELECT 1 AS one'))).rows, [[1]]);
  assert.equal(responder.stats.connections, 1, 'same connection after the cancel');

  // cursor.cancel(), an abort signal and leaving a loop early stop the statement the same way.
  const cursor = await connector.stream(reader('SELECT slow'));
  await cursor.cancel(new AppError('cancelled', 'requester went away'));
  await assert.rejects(async () => { for await (const _ of cursor) { /* drain */ } }, code('cancelled'));
  const controller = new AbortController();
  setTimeout(() => controller.abort(), 100);
  await assert.rejects(connector.query(reader('SELECT slow', { signal: controller.signal })), code('cancelled'));
  for await (const batch of await connector.stream(reader('SELECT slow', { batchRows: 1 }))) {
    assert.equal(batch.length, 1);
    break;
  }
  assert.equal(responder.stats.attentions, 4);
  assert.equal(responder.stats.attentionAcks, 4);
  assert.deepEqual((await connector.query(reader('SELECT 1 AS one', { executionMode: 'scalar' }))).rows, [[1]]);
});

test('streams a large result with bounded memory, paced by the consumer', async (t) => {
  const ROWS = 300_000;
  const text = 'x'.repeat(200);
  let produced = 0;
  const many = function* () { for (let i = 0; i < ROWS; i++) { produced++; yield [i, text]; } };
  const responder = await setup(t, (r) => r.sql === 'SELECT many'
    ? { columns: [{ name: 'n', type: 'int' }, { name: 's', type: 'varchar', length: 200 }], rows: many() }
    : undefined);
  const connector = await open(t, responder);
  const cursor = await connector.stream(reader('SELECT many', { deadline: Date.now() + 120_000 }));
  let rows = 0;
  let firstBatch = true;
  let lag = 0;
  for await (const batch of cursor) {
    rows += batch.length;
    if (firstBatch) {
      firstBatch = false;
      // A paused consumer pauses the server: far fewer rows than the whole result were produced meanwhile.
      await new Promise((resolve) => setTimeout(resolve, 200));
      assert.ok(produced < ROWS / 4, `server produced ${produced} rows while the consumer paused`);
    }
    lag = Math.max(lag, produced - rows);
  }
  assert.equal(rows, ROWS);
  assert.equal(cursor.summary().rowCount, ROWS);
  // ~70 MB of JSON flowed; rows produced but not yet consumed (socket buffers + two batches) stayed a small,
  // fixed window: the connector never buffers the result.
  assert.ok(lag < ROWS / 5, `${lag} rows were in flight at once`);
  t.diagnostic(`most rows in flight: ${lag}`);
});

test('maxRows ends with result_too_large and stops the statement', async (t) => {
  const responder = await setup(t, (r) => r.sql === 'SELECT rows'
    ? { columns: [{ name: 'n', type: 'int' }], rows: Array.from({ length: 50 }, (_, i) => [i]) }
    : undefined);
  const connector = await open(t, responder);
  await assert.rejects(connector.query(reader('SELECT rows', { maxRows: 10 })), code('result_too_large'));
  assert.equal((await connector.query(reader('SELECT rows'))).rowCount, 50);
});

test('login failures, encryption mismatches and NTLM refusals are clear errors', async (t) => {
  const responder = await setup(t, () => undefined);
  const wrong = await openMssqlConnector(config(responder, { password: 'wrong' })).catch((e: unknown) => e);
  assert.ok(wrong instanceof AppError);
  assert.match(wrong.message, /Login failed for user 'halo_reader'.*check the login name, password/);
  assert.doesNotMatch(wrong.message, /wrong/);
  const tls = await openMssqlConnector(config(responder, { encrypt: true })).catch((e: unknown) => e);
  assert.ok(tls instanceof AppError);
  assert.match(tls.message, /encrypt/);
  const ntlm = await openMssqlConnector(config(responder, { authentication: 'ntlm', domain: 'CLINIC' })).catch((e: unknown) => e);
  assert.ok(ntlm instanceof AppError);
  assert.match(ntlm.message, /cannot connect/);
  await assert.rejects(openMssqlConnector(config(responder, { instanceName: 'BPS' })), code('bad_request'));
  assert.equal(responder.stats.logins, 0);
});

test('bp / zedmed / d4w profiles read identity and enablement with configurable queries', async (t) => {
  const responder = await setup(t, (r) => {
    if (r.sql.includes('service_broker_guid')) {
      return { columns: [{ name: 'pms_id', type: 'nvarchar' }, { name: 'pms_version', type: 'nvarchar' }], rows: [['5E1B7D0C-0000-4000-8000-000000000001', null]] };
    }
    if (r.sql === 'SELECT DB_NAME() AS practice_name' || r.sql === 'SELECT DB_NAME()') return { columns: [{ name: 'n', type: 'nvarchar' }], rows: [['BPSPatients']] };
    if (r.sql === 'SELECT SiteId, Version FROM dbo.Site') return { columns: [{ name: 'SiteId', type: 'int' }, { name: 'Version', type: 'varchar' }], rows: [[1234, '1.12.0']] };
    if (r.sql === 'SELECT TOP 1 Name FROM dbo.Practice') return { columns: [{ name: 'Name', type: 'nvarchar' }], rows: [['Harbour Dental']] };
    if (r.sql.startsWith('SELECT Enabled FROM dbo.Integrations')) {
      return { columns: [{ name: 'Enabled', type: 'bit' }], rows: [[r.parameters.integrationName?.value === 'Halo']] };
    }
    return undefined;
  });
  const connector = await open(t, responder);
  const bp = getProfile('bp');
  assert.equal(bp.displayName, 'Best Practice');
  assert.deepEqual(await bp.readIdentity(connector), { pmsId: '5E1B7D0C-0000-4000-8000-000000000001', practiceName: 'BPSPatients' });
  assert.equal(await bp.integrationEnabled(connector), false, 'no enablement query configured: disabled');
  assert.deepEqual(await bp.catalogues(connector), [{ name: 'BPSPatients', isDefault: true }]);
  const d4w = getProfile('d4w', {
    identityQuery: 'SELECT SiteId, Version FROM dbo.Site',
    practiceNameQuery: 'SELECT TOP 1 Name FROM dbo.Practice',
    enablementQuery: 'SELECT Enabled FROM dbo.Integrations WHERE Name = @integrationName',
  });
  assert.deepEqual(await d4w.readIdentity(connector), { pmsId: '1234', practiceName: 'Harbour Dental', practiceManagementVersion: '1.12.0' });
  assert.equal(await d4w.integrationEnabled(connector), true);
  assert.equal(await d4w.integrationEnabled(connector, 'Other'), false);
  assert.throws(() => getProfile('zedmed', { identityQuery: '' }), code('bad_request'));
  assert.throws(() => getProfile('zedmed', { unknown: 1 }), code('bad_request'));
  await assert.rejects(getProfile('zedmed', { enablementQuery: 'DELETE FROM dbo.Integrations' }).integrationEnabled(connector), code('writes_disabled'));
});
