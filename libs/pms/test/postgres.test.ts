// The PostgreSQL connector against a real server (PGHOST etc., default 127.0.0.1:5432, user postgres, db test).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AppError } from '@halo/contracts';
import { setTimeout as sleep } from 'node:timers/promises';
import { translatePlaceholders } from '@halo/pms';
import { param, reader } from './fixtures.ts';
import { connectorFor, postgresAdmin, postgresServer } from './server-databases.ts';
import { isCode, serverConnectorSuite } from './server-connector-suite.ts';

serverConnectorSuite({
  name: 'postgres',
  server: postgresServer,
  async running(t, config) {
    const admin = await postgresAdmin(t, config);
    return async () => {
      const result = await admin.query(
        "SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1 AND application_name = 'halo-link' AND state <> 'idle' AND state <> 'idle in transaction'",
        [config.database],
      );
      return Number(result.rows[0]?.n ?? 0);
    };
  },
  slowRows: 'SELECT x, length(pg_sleep(0.005)::text) AS z FROM generate_series(1, @n::int) AS x',
  fastRows: "SELECT x, repeat('x', 100) AS pad FROM generate_series(1, @n::int) AS x",
  sleep: 'SELECT 1 AS slept FROM pg_sleep(@s)',
});

test('postgres: type mapping to JSON-safe cells', async (t) => {
  // Writable, so the read-only guard (whose grammar lacks some of these casts) does not stand in the way.
  const connector = await connectorFor(t, postgresServer(), true);
  const result = await connector.query(reader(`SELECT
    true AS b, 7::int2 AS i2, 2147483647::int4 AS i4, 9007199254740993::int8 AS big, 42::int8 AS small8,
    12345678901234567890.123456789::numeric AS num, 1.5::float8 AS f, 'Infinity'::float8 AS inf,
    DATE '2025-01-06' AS d, TIMESTAMP '2025-01-06 10:11:12.345678' AS ts,
    TIMESTAMPTZ '2025-01-06 10:11:12+00' AS tstz, '\\x00ff'::bytea AS bin, '{"a": [1, 2]}'::json AS j,
    '{"b": 1}'::jsonb AS jb, 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid AS u, ARRAY[1, 2, 3] AS arr,
    INTERVAL '1 day 2 hours' AS iv, NULL::text AS nothing, @bytes::bytea AS param_bin`, {
    parameters: [param('@bytes', 'VarBinary', Buffer.from([1, 2, 3]).toString('base64'))],
  }));
  assert.deepEqual(result.columns.map((c) => c.type), [
    'bool', 'int2', 'int4', 'int8', 'int8', 'numeric', 'float8', 'float8', 'date', 'timestamp', 'timestamptz',
    'bytea', 'json', 'jsonb', 'uuid', '_int4', 'interval', 'text', 'bytea',
  ]);
  assert.deepEqual(result.rows[0], [
    true, 7, 2147483647, '9007199254740993', 42, '12345678901234567890.123456789', 1.5, 'Infinity',
    '2025-01-06', '2025-01-06T10:11:12.345678', '2025-01-06T10:11:12Z', 'AP8=', '{"a": [1, 2]}', '{"b": 1}',
    'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{1,2,3}', '1 day 02:00:00', null, 'AQID',
  ]);
  // Parameter types convert on the way in.
  const typed = await connector.query(reader('SELECT @d::date AS d, @ts::timestamp AS ts, @dec::numeric AS dec, @bit::int AS bit, @big::int8 AS big', {
    parameters: [param('@d', 'Date', '2024-02-29'), param('@ts', 'DateTime2', '2024-02-29T23:59:58.1234567'), param('@dec', 'Decimal', '12345678901234567.89'), param('@bit', 'Bit', 'true'), param('@big', 'BigInt', '-9223372036854775808')],
  }));
  assert.deepEqual(typed.rows[0], ['2024-02-29', '2024-02-29T23:59:58.123457', '12345678901234567.89', 1, '-9223372036854775808']);
  // Decimals travel as text: 38 digits survive numeric(38, 0); an out-of-range Money is refused before the server.
  const wide = await connector.query(reader('SELECT @d::numeric(38, 0) AS d, @m::numeric AS m', {
    parameters: [param('@d', 'Decimal', '9'.repeat(38)), param('@m', 'Money', '-922337203685477.5808')],
  }));
  assert.deepEqual(wide.rows[0], ['9'.repeat(38), '-922337203685477.5808']);
  await assert.rejects(connector.query(reader('SELECT @m', { parameters: [param('@m', 'Money', '99999999999999999999')] })),
    (e: unknown) => e instanceof AppError && e.code === 'bad_request' && /@m is out of range for Money/.test(e.message));
});

test('postgres: placeholders become $n, once per name; literals, identifiers, comments and dollar quotes are left alone', () => {
  const text = `SELECT @a, '@a', "@a", E'\\'@a', $$ @a $$, $tag$ @a $tag$ /* @a /* nested @a */ @a */ -- @a
    , @b, @a, x<@c, @d::int, jsonb '{}' ? 'k', email@domain`;
  const translated = translatePlaceholders(text, 'postgres');
  assert.equal(translated.text, `SELECT $1, '@a', "@a", E'\\'@a', $$ @a $$, $tag$ @a $tag$ /* @a /* nested @a */ @a */ -- @a
    , $2, $1, x<$3, $4::int, jsonb '{}' ? 'k', email@domain`);
  assert.deepEqual(translated.names, ['a', 'b', 'c', 'd']);
  assert.throws(() => translatePlaceholders('SELECT $1', 'postgres'), isCode('bad_request'));
});

test('postgres: a connection the server dropped is replaced for the next query', async (t) => {
  const config = postgresServer();
  const connector = await connectorFor(t, config);
  const pid = (await connector.query(reader('SELECT pg_backend_pid()'))).rows[0]?.[0];
  const admin = await postgresAdmin(t, config);
  await admin.query('SELECT pg_terminate_backend($1)', [pid]);
  await sleep(200);
  const next = await connector.query(reader('SELECT pg_backend_pid()'));
  assert.notEqual(next.rows[0]?.[0], pid);
});

test('postgres: a wrong password fails at open without echoing it; passwords come from files or env', async () => {
  const { openConnector } = await import('@halo/pms');
  const config = { ...postgresServer(), user: 'halo_no_such_user', password: 'hunter2-secret' };
  const error = await openConnector(config).catch((e: unknown) => e);
  assert.ok(isCode('site_offline')(error), String(error));
  assert.doesNotMatch((error as Error).message, /hunter2/);
  await assert.rejects(openConnector({ ...postgresServer(), passwordEnv: 'HALO_TEST_UNSET_VARIABLE' }), isCode('bad_request', /HALO_TEST_UNSET_VARIABLE/));
});
