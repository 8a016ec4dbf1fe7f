// The SQL Server connector against a real SQL Server: MSSQL_URL (mssql://user:password@host:port/database), or
// a container through @testcontainers/mssqlserver when that package and a Docker engine are both present.
// Without either it skips saying why; REQUIRE_MSSQL=1 turns the skip into a failure.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { AppError } from '@halo/contracts';
import { openMssqlConnector } from '@halo/pms';
import type { MssqlConfig, QueryInput } from '@halo/pms';

interface Target {
  config: MssqlConfig;
  stop(): Promise<void>;
}

async function findServer(): Promise<Target | string> {
  const url = process.env.MSSQL_URL;
  if (url) {
    const parsed = new URL(url);
    return {
      config: {
        engine: 'mssql', host: parsed.hostname, port: Number(parsed.port || 1433), database: parsed.pathname.slice(1) || 'master',
        user: decodeURIComponent(parsed.username), password: decodeURIComponent(parsed.password),
        encrypt: parsed.searchParams.get('encrypt') !== 'false', trustServerCertificate: true,
      },
      stop: async () => {},
    };
  }
  const docker = existsSync('/var/run/docker.sock') || Boolean(process.env.DOCKER_HOST);
  if (!docker) return 'no MSSQL_URL and no Docker engine (no /var/run/docker.sock, no DOCKER_HOST) for testcontainers';
  const moduleName = '@testcontainers/mssqlserver';
  let containers: { MSSQLServerContainer: new (image: string) => { acceptLicense(): { start(): Promise<{ getHost(): string; getPort(): number; getUsername(): string; getPassword(): string; stop(): Promise<unknown> }> } } };
  try {
    containers = await import(moduleName);
  } catch {
    return `no MSSQL_URL, and ${moduleName} is not installed to start a container`;
  }
  const container = await new containers.MSSQLServerContainer('mcr.microsoft.com/mssql/server:2022-latest').acceptLicense().start();
  return {
    config: {
      engine: 'mssql', host: container.getHost(), port: container.getPort(), database: 'master',
      user: container.getUsername(), password: container.getPassword(), encrypt: true, trustServerCertificate: true,
    },
    stop: async () => { await container.stop(); },
  };
}

const found = await findServer().catch((error: unknown) => `could not start SQL Server: ${error instanceof Error ? error.message : String(error)}`);
if (typeof found === 'string' && process.env.REQUIRE_MSSQL === '1') throw new Error(`REQUIRE_MSSQL=1 but ${found}`);
const skip = typeof found === 'string' ? found : false;
if (skip) console.log(`# real SQL Server suite skipped: ${skip}`);

function reader(text: string, overrides: Partial<QueryInput> = {}): QueryInput {
  return { text, parameters: [], executionMode: 'reader', deadline: Date.now() + 30_000, ...overrides };
}

test('real SQL Server: types, parameters, errors, cancel', { skip }, async (t) => {
  const target = found as Target;
  t.after(() => target.stop());
  const connector = await openMssqlConnector(target.config);
  t.after(() => connector.close());
  const types = await connector.query(reader(
    "SELECT CAST(42 AS int) AS i, CAST(9223372036854775807 AS bigint) AS b, CAST(12.345 AS decimal(10,3)) AS d, " +
    "CAST(N'Zoë' AS nvarchar(10)) AS s, CAST('2024-02-29T13:14:15.1234567' AS datetime2(7)) AS dt2, " +
    "CAST(0x0001FD AS varbinary(3)) AS vb, CAST('6F9619FF-8B86-D011-B42D-00C04FC964FF' AS uniqueidentifier) AS g, CAST(1 AS bit) AS f",
  ));
  assert.deepEqual(types.rows[0], [42, '9223372036854775807', '12.345', 'Zoë', '2024-02-29T13:14:15.1234567', 'AAH9', '6F9619FF-8B86-D011-B42D-00C04FC964FF', true]);
  const echoed = await connector.query(reader('SELECT @n + 1 AS n, @s AS s', {
    parameters: [{ name: '@n', direction: 'input', type: 'Int', value: '41' }, { name: '@s', direction: 'input', type: 'NVarChar', value: "O'Brien" }],
  }));
  assert.deepEqual(echoed.rows, [[42, "O'Brien"]]);
  await assert.rejects(connector.query(reader('SELECT * FROM no_such_table_xyz')), (e: unknown) => e instanceof AppError && e.code === 'query_failed' && !/no_such_table/.test(e.message));
  const started = Date.now();
  const slow = 'SELECT COUNT_BIG(*) AS n FROM sys.all_objects a CROSS JOIN sys.all_objects b CROSS JOIN sys.all_objects c';
  await assert.rejects(connector.query(reader(slow, { deadline: Date.now() + 500 })), (e: unknown) => e instanceof AppError && e.code === 'deadline_exceeded');
  assert.ok(Date.now() - started < 10_000);
  assert.deepEqual((await connector.query(reader('SELECT 1 AS one'))).rows, [[1]]);
});
