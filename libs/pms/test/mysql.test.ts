// The MySQL/MariaDB connector against a real server (MYSQL_URL, default mysql://root@127.0.0.1:3306/test).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AppError } from '@halo/contracts';
import { getProfile, openDentalPmsId, translatePlaceholders } from '@halo/pms';
import { param, reader } from './fixtures.ts';
import { createOpenDentalFixture } from './open-dental-fixture.ts';
import { connectorFor, mysqlAdmin, mysqlServer, sampleServerDatabase } from './server-databases.ts';
import { isCode, serverConnectorSuite } from './server-connector-suite.ts';

serverConnectorSuite({
  name: 'mysql',
  server: mysqlServer,
  async running(t, config) {
    const admin = await mysqlAdmin(t, config);
    return async () => {
      const [rows] = await admin.query(
        "SELECT count(*) AS n FROM information_schema.PROCESSLIST WHERE DB = ? AND COMMAND = 'Query' AND ID <> CONNECTION_ID()",
        [config.database],
      );
      return Number((rows as Array<{ n: number }>)[0]?.n ?? 0);
    };
  },
  // MariaDB flushes its 16 KiB net buffer only when full: wide rows make slow rows arrive as they are made.
  slowRows: "SELECT seq AS x, SLEEP(0.005) AS z, REPEAT('x', 4000) AS pad FROM seq_1_to_10000000 WHERE seq <= @n",
  fastRows: "SELECT seq AS x, REPEAT('x', 100) AS pad FROM seq_1_to_10000000 WHERE seq <= @n",
  sleep: 'SELECT SLEEP(@s) AS slept',
});

test('mysql: type mapping to JSON-safe cells', async (t) => {
  const config = await sampleServerDatabase(t, mysqlServer(), { patients: 1 });
  const admin = await mysqlAdmin(t, config);
  await admin.query(`CREATE TABLE typed (
    ti TINYINT, si SMALLINT, i INT, big BIGINT, ubig BIGINT UNSIGNED, dec1 DECIMAL(30, 9), dbl DOUBLE, d DATE,
    dt DATETIME(6), ts TIMESTAMP NULL, bin VARBINARY(8), bl BLOB, tx TEXT, js JSON, vc VARCHAR(20), nothing INT)`);
  await admin.query(`INSERT INTO typed VALUES (1, -2, 2147483647, 42, 18446744073709551615, 12345678901234567890.123456789,
    1.5, '2025-01-06', '2025-01-06 10:11:12.345678', NULL, X'00ff', X'010203', 'text', '{"a": [1, 2]}', 'v', NULL)`);
  const connector = await connectorFor(t, config);
  const result = await connector.query(reader('SELECT * FROM typed'));
  assert.deepEqual(result.columns.map((c) => c.type), [
    'tinyint', 'smallint', 'int', 'bigint', 'bigint', 'decimal', 'double', 'date', 'datetime', 'timestamp',
    'varbinary', 'blob', 'text', 'json', 'varchar', 'int',
  ]);
  assert.deepEqual(result.rows[0], [
    1, -2, 2147483647, 42, '18446744073709551615', '12345678901234567890.123456789', 1.5, '2025-01-06',
    '2025-01-06T10:11:12.345678', null, 'AP8=', 'AQID', 'text', '{"a": [1, 2]}', 'v', null,
  ]);
  const typed = await connector.query(reader('SELECT CAST(@d AS DATE) AS d, CAST(@ts AS DATETIME(6)) AS ts, @dec AS dec1, @bit AS bit1, @big AS big, @bytes AS bytes, CAST(@off AS DATETIME) AS off1', {
    parameters: [
      param('@d', 'Date', '2024-02-29'), param('@ts', 'DateTime2', '2024-02-29T23:59:58.1234567'), param('@dec', 'Decimal', '12345678901234567.89'),
      param('@bit', 'Bit', 'true'), param('@big', 'BigInt', '-9223372036854775808'), param('@bytes', 'VarBinary', Buffer.from([1, 2, 3]).toString('base64')),
      param('@off', 'DateTimeOffset', '2024-02-29T23:30:00+10:00'),
    ],
  }));
  assert.deepEqual(typed.rows[0], ['2024-02-29', '2024-02-29T23:59:58.123456', '12345678901234567.89', 1, '-9223372036854775808', 'AQID', '2024-02-29T13:30:00']);
  // Decimals travel as text: 38 digits survive a DECIMAL(38, 0); an out-of-range Money is refused before the server.
  const wide = await connector.query(reader('SELECT CAST(@d AS DECIMAL(38, 0)) AS d, @m AS m', {
    parameters: [param('@d', 'Decimal', '9'.repeat(38)), param('@m', 'Money', '-922337203685477.5808')],
  }));
  assert.deepEqual(wide.rows[0], ['9'.repeat(38), '-922337203685477.5808']);
  await assert.rejects(connector.query(reader('SELECT @m', { parameters: [param('@m', 'Money', '99999999999999999999')] })),
    (e: unknown) => e instanceof AppError && e.code === 'bad_request' && /@m is out of range for Money/.test(e.message));
});

test('mysql: placeholders become ?, literals, identifiers, comments and @@variables are left alone', () => {
  const text = "SELECT @a, '@a', \"@a\", `@a`, 'it\\'s @a' # @a\n, @b /* @a */, @a, @@session.sql_mode, user@host -- @a";
  const translated = translatePlaceholders(text, 'mysql');
  assert.equal(translated.text, "SELECT ?, '@a', \"@a\", `@a`, 'it\\'s @a' # @a\n, ? /* @a */, ?, @@session.sql_mode, user@host -- @a");
  assert.deepEqual(translated.names, ['a', 'b', 'a']);
  assert.throws(() => translatePlaceholders('SELECT ?', 'mysql'), isCode('bad_request'));
  // `?` inside a literal is not a placeholder (mysql2's own formatting would replace it).
  assert.equal(translatePlaceholders("SELECT '?', @a", 'mysql').text, "SELECT '?', ?");
});

test('mysql: a ? inside a literal survives next to a parameter', async (t) => {
  const connector = await connectorFor(t, mysqlServer());
  const result = await connector.query(reader("SELECT 'why?' AS q, @a AS a", { parameters: [param('@a', 'NVarChar', 'x?y')] }));
  assert.deepEqual(result.rows, [['why?', 'x?y']]);
});

test('mysql: the opendental profile reads PracticeTitle, DataBaseVersion and a hash of RegistrationKey from preference', async (t) => {
  const config = await sampleServerDatabase(t, mysqlServer(), { patients: 5 });
  await createOpenDentalFixture(config, { registrationKey: 'ABCD-EFGH-JKLM-NPQR', practiceTitle: 'Salem Family Dental', version: '24.1.7.0', enabled: true });
  const connector = await connectorFor(t, config);
  const profile = getProfile('opendental');
  assert.equal(profile.displayName, 'Open Dental');
  const identity = await profile.readIdentity(connector);
  assert.deepEqual(identity, { pmsId: openDentalPmsId('abcd-efgh-jklm-npqr'), practiceName: 'Salem Family Dental', practiceManagementVersion: '24.1.7.0' });
  assert.match(identity.pmsId, /^OD-[0-9A-F]{20}$/);
  assert.doesNotMatch(identity.pmsId, /ABCD/);
  assert.deepEqual(await profile.catalogues(connector), [{ name: config.database, isDefault: true }]);
  assert.equal(await profile.integrationEnabled(connector), true);
  assert.equal(await profile.integrationEnabled(connector, 'Other'), false);

  await createOpenDentalFixture(config, { registrationKey: '', practiceTitle: 'x', version: '1', enabled: false });
  assert.equal(await profile.integrationEnabled(connector), false);
  await assert.rejects(profile.readIdentity(connector), isCode('query_failed', /RegistrationKey/));
});
