// npm run bench:engines — rows/s streaming one N-row table (BENCH_ROWS, default 200 000) from each engine, directly
// through its connector (stream()) and through the relay (NDJSON: HTTP -> facade -> hub -> leaf -> agent ->
// connector and back, one agent process serving all four sites), side by side in one run. Engines: SQLite, PostgreSQL
// (PGHOST etc., default 127.0.0.1:5432 postgres), MariaDB (MYSQL_URL, default mysql://root@127.0.0.1:3306) and the
// TDS responder standing in for SQL Server (BENCH_ENGINES=PostgreSQL,MariaDB: only those). An engine whose server cannot be reached is reported and skipped.
// The facade, the registry and this client share one process; the agent runs as its own process, as it does on a
// practice server (SQLite reads in the agent's child process); the direct runs are in this process. Beside the
// rows/s, the CPU per query (one N-row stream) of each process on each path (/proc/<pid>/stat over all runs of a
// path, warm-up included): this process, the agent, the hub and leaf nats-servers, the SQLite workers, and the
// database server (every postgres / mariadbd process on the machine:
// shared, so another user's load shows there too). Prints figures and ratios; no pass/fail.
import { randomBytes } from 'node:crypto';
import Database from 'better-sqlite3';
import { MSSQL_LOGIN_ACCESS_SQL, openConnector } from '@halo/pms';
import { createSampleServerDatabase, dropSampleServerDatabase } from '@halo/sample-practice';
import type { DatabaseConfig, MssqlConfig, MysqlConfig, PostgresConfig } from '@halo/pms';
import { launchLeaf, normaliseSql, startTdsResponder, TDS_DEFAULT_LOGIN } from '@halo/testkit';
import type { TdsReply, TdsRequest, TdsValue } from '@halo/testkit';
import type { AgentConfigInput } from '@halo/agent';
import { startTestSystem } from '../support/system.ts';
import { spawnAgentProcess } from '../support/agent-process.ts';
import { drainBody } from '../support/http-stream.ts';
import { PROTOCOL_LIMITS } from '@halo/contracts';
import { fmt } from './stats.ts';
import { startFloorRelay, type FloorStreamRequest } from './floor-relay.ts';
import { cpuLine, natsServerChildren, processesNamed, sqliteWorkers, startCpu, type ProcessRoles } from './proc.ts';

const ROWS = Number(process.env.BENCH_ROWS ?? 200_000);
const REPEAT = Number(process.env.BENCH_REPEAT ?? 2);
const QUERY = 'SELECT id, name, amount, created FROM bench_rows';
const PASSWORD_ENV = { postgres: 'HALO_BENCH_PG_PASSWORD', mysql: 'HALO_BENCH_MY_PASSWORD', mssql: 'HALO_BENCH_MS_PASSWORD' } as const;
const MS_PROFILE_OPTIONS = {
  identityQuery: 'SELECT SiteId, Version FROM dbo.Site',
  practiceNameQuery: 'SELECT TOP 1 PracticeName FROM dbo.Practice',
  enablementQuery: 'SELECT Enabled FROM dbo.Integrations WHERE Name = @integrationName',
  integrationName: 'Halo',
};

type Entry = AgentConfigInput['databases'][number];

/** One engine under test: how to reach it directly, how the agent serves it, and its teardown. */
interface Bench {
  label: string;
  direct: DatabaseConfig;
  /** Command names of the database server's processes, if it runs outside this process. */
  server?: readonly string[];
  entry: Entry;
  note?: string;
}

const suffix = `${process.pid}_${randomBytes(3).toString('hex')}`;
const cleanups: Array<() => Promise<unknown>> = [];

function postgres(database: string): PostgresConfig & { password: string } {
  return {
    engine: 'postgres', host: process.env.PGHOST ?? '127.0.0.1', port: Number(process.env.PGPORT ?? 5432),
    user: process.env.PGUSER ?? 'postgres', database, password: process.env.PGPASSWORD ?? '',
  };
}

function mysql(database: string): MysqlConfig & { password: string } {
  const url = new URL(process.env.MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/test');
  return {
    engine: 'mysql', host: url.hostname, port: Number(url.port || 3306), user: decodeURIComponent(url.username || 'root'), database,
    password: decodeURIComponent(url.password),
  };
}

/** Runs one statement that writes (the bench table), through a connector that allows writes. */
async function write(config: DatabaseConfig, text: string): Promise<void> {
  const connector = await openConnector({ ...config, allowWrites: true });
  try {
    await connector.query({ text, parameters: [], executionMode: 'nonQuery', deadline: Date.now() + 300_000 });
  } finally {
    await connector.close();
  }
}

/** A sample practice (so the agent's `sample` profile can read it) plus bench_rows with ROWS generated rows. */
async function serverBench(config: (PostgresConfig | MysqlConfig) & { password: string }, label: string, fill: string): Promise<Bench> {
  await createSampleServerDatabase(config, { pmsId: `BENCH-${label}-${suffix}`, practiceName: `${label} bench`, patients: 10 });
  cleanups.push(() => dropSampleServerDatabase(config));
  await write(config, fill);
  const { engine, host, port, database, user } = config;
  process.env[PASSWORD_ENV[engine]] = config.password;
  const server = engine === 'postgres' ? ['postgres'] : ['mariadbd', 'mysqld'];
  return { label, direct: config, server, entry: { name: engine, engine, host, port, database, user, passwordEnv: PASSWORD_ENV[engine], profile: 'sample' } };
}

function sqliteBench(path: string): Bench {
  const db = new Database(path);
  try {
    db.exec(`CREATE TABLE bench_rows AS
      WITH RECURSIVE seq(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM seq WHERE i < ${ROWS})
      SELECT i AS id, 'patient-' || i AS name, i * 1.25 AS amount, strftime('%Y-%m-%dT%H:%M:%S', 1704067200 + i, 'unixepoch') AS created FROM seq`);
  } finally {
    db.close();
  }
  return { label: 'SQLite', direct: { engine: 'sqlite', path }, entry: { name: 'sqlite', engine: 'sqlite', path, profile: 'sample' } };
}

async function tdsBench(): Promise<Bench> {
  // Generated once, so the responder spends its time on the wire, not on making rows.
  const start = Date.UTC(2024, 0, 1);
  const rows: TdsValue[][] = Array.from({ length: ROWS }, (_, k) => {
    const i = k + 1;
    return [i, `patient-${i}`, i * 1.25, new Date(start + i * 1000).toISOString().slice(0, 19)];
  });
  const replies: Array<[text: string, reply: () => TdsReply]> = [
    [MSSQL_LOGIN_ACCESS_SQL, () => ({
      columns: ['can_insert', 'can_update', 'can_delete', 'can_alter', 'can_create_table', 'can_execute', 'is_denydatawriter', 'is_sysadmin']
        .map((name) => ({ name, type: 'int' as const })),
      rows: [[0, 0, 0, 0, 0, 1, 1, 0]],
    })],
    [MS_PROFILE_OPTIONS.identityQuery, () => ({ columns: [{ name: 'SiteId', type: 'nvarchar' }, { name: 'Version', type: 'nvarchar' }], rows: [[`BENCH-MS-${suffix}`, null]] })],
    [MS_PROFILE_OPTIONS.practiceNameQuery, () => ({ columns: [{ name: 'PracticeName', type: 'nvarchar' }], rows: [['TDS bench']] })],
    [MS_PROFILE_OPTIONS.enablementQuery, () => ({ columns: [{ name: 'Enabled', type: 'bit' }], rows: [[true]] })],
    ['SELECT DB_NAME()', () => ({ columns: [{ name: '', type: 'nvarchar' }], rows: [['bench']] })],
    [QUERY, () => ({
      columns: [
        { name: 'id', type: 'int' }, { name: 'name', type: 'nvarchar', length: 40 }, { name: 'amount', type: 'float' },
        { name: 'created', type: 'datetime2', scale: 0 },
      ],
      rows,
    })],
  ];
  const byText = new Map(replies.map(([text, reply]) => [normaliseSql(text), reply]));
  const responder = await startTdsResponder({ fixtures: (request: TdsRequest) => byText.get(normaliseSql(request.sql))?.(), database: 'bench' });
  cleanups.push(() => responder.close());
  const direct: MssqlConfig = {
    engine: 'mssql', host: responder.host, port: responder.port, database: 'bench', user: TDS_DEFAULT_LOGIN.user,
    password: TDS_DEFAULT_LOGIN.password, encrypt: false,
  };
  process.env[PASSWORD_ENV.mssql] = TDS_DEFAULT_LOGIN.password;
  return {
    label: 'TDS responder',
    direct,
    entry: {
      name: 'mssql', engine: 'mssql', host: direct.host, port: direct.port, database: 'bench', user: direct.user,
      passwordEnv: PASSWORD_ENV.mssql, encrypt: false, profile: 'bp', profileOptions: MS_PROFILE_OPTIONS,
    },
    note: 'wire path only',
  };
}

/** Streams the bench table through a connector; returns rows and seconds. */
async function streamDirect(config: DatabaseConfig): Promise<{ rows: number; seconds: number }> {
  const connector = await openConnector(config);
  try {
    const t0 = performance.now();
    const cursor = await connector.stream({ text: QUERY, parameters: [], executionMode: 'reader', deadline: Date.now() + 600_000 });
    let rows = 0;
    for await (const batch of cursor) rows += batch.length;
    return { rows, seconds: (performance.now() - t0) / 1000 };
  } finally {
    await connector.close();
  }
}

/**
 * Best rows/s of REPEAT runs after one warm-up, and the CPU milliseconds per run of each role over all of them;
 * throws if a run returns the wrong number of rows.
 */
async function best(run: () => Promise<{ rows: number; seconds: number }>, roles: ProcessRoles): Promise<{ rate: number; cpu: Record<string, number> }> {
  let rate = 0;
  const cpu = startCpu(roles);
  for (let i = 0; i <= REPEAT; i++) {
    const { rows, seconds } = await run();
    if (rows !== ROWS) throw new Error(`streamed ${rows} rows, expected ${ROWS}`);
    if (i > 0) rate = Math.max(rate, rows / seconds);
  }
  const used = cpu.stop();
  return { rate, cpu: Object.fromEntries(Object.entries(used).map(([role, ms]) => [role, ms / (REPEAT + 1)])) };
}

/** Sets up one engine, or reports why it is skipped. */
/** BENCH_ENGINES (comma-separated labels, e.g. "PostgreSQL,MariaDB"): only these; default all. */
const ONLY = process.env.BENCH_ENGINES?.split(',').map((s) => s.trim().toLowerCase()).filter(Boolean);

async function prepare(label: string, make: () => Promise<Bench>): Promise<Bench | undefined> {
  if (ONLY && !ONLY.includes(label.toLowerCase())) return undefined;
  try {
    return await make();
  } catch (err) {
    console.log(`${label}: skipped (${err instanceof Error ? err.message : String(err)})`);
    return undefined;
  }
}

try {
  const sys = await startTestSystem();
  cleanups.push(() => sys.close());
  const benches = [
    await prepare('SQLite', async () => sqliteBench(sys.sampleDatabase('bench', `BENCH-SQ-${suffix}`, 'SQLite bench', 10))),
    await prepare('PostgreSQL', () => serverBench(postgres(`halo_bench_${suffix}`), 'PostgreSQL',
      `CREATE TABLE bench_rows AS SELECT i AS id, 'patient-' || i AS name, i * 1.25::float8 AS amount,
        timestamp '2024-01-01' + i * interval '1 second' AS created FROM generate_series(1, ${ROWS}) AS i`)),
    await prepare('MariaDB', () => serverBench(mysql(`halo_bench_${suffix}`), 'MariaDB',
      `CREATE TABLE bench_rows AS SELECT seq AS id, CONCAT('patient-', seq) AS name, CAST(seq * 1.25 AS DOUBLE) AS amount,
        TIMESTAMP '2024-01-01 00:00:00' + INTERVAL seq SECOND AS created FROM seq_1_to_${ROWS}`)),
    await prepare('TDS responder', tdsBench),
  ].filter((b): b is Bench => b !== undefined);

  // The agent runs as its own process, as on a practice server (its leaf nats-server and SQLite workers are its
  // children); the facade, registry and this client share this process. BENCH_AGENT=inline: the agent runs in this
  // process too (how the figures before the agent had a process of its own were measured).
  const inline = process.env.BENCH_AGENT === 'inline';
  const entries = benches.map((b) => b.entry);
  const agent = inline
    ? { pid: process.pid, sites: (await sys.startAgent('bench', entries)).sites }
    : await spawnAgentProcess(sys.dir, sys.hub.leafUrl, 'bench', entries);
  if (!inline) cleanups.push(() => (agent as { close(): Promise<void> }).close());
  // The architecture's floor (floor-relay.ts): a bare agent on a leaf of the same hub and a bare HTTP process,
  // streaming the same statement from the same servers (SQLite, PostgreSQL, MariaDB) and doing nothing else.
  const floorLeaf = await launchLeaf(sys.hub.leafUrl);
  cleanups.push(() => floorLeaf.close());
  const byEngine = (engine: string) => benches.find((b) => b.direct.engine === engine)?.direct;
  const sqliteFile = byEngine('sqlite') as { path: string } | undefined;
  const serverOf = (config: DatabaseConfig | undefined) => {
    if (!config || (config.engine !== 'postgres' && config.engine !== 'mysql')) return undefined;
    const { host, port, user, database, password } = config as (PostgresConfig | MysqlConfig) & { password?: string };
    return { host, port, user, database, password: password ?? '' };
  };
  const floorPostgres = serverOf(byEngine('postgres'));
  const floorMysql = serverOf(byEngine('mysql'));
  const floor = await startFloorRelay({
    hubUrl: sys.hub.clientUrl, leafClientUrl: floorLeaf.clientUrl, text: 'SELECT 1',
    ...(sqliteFile ? { dbPath: sqliteFile.path } : {}),
    stream: {
      text: QUERY, chunkBytes: PROTOCOL_LIMITS.defaultChunkBytes, window: PROTOCOL_LIMITS.defaultWindow,
      ...(floorPostgres ? { postgres: floorPostgres } : {}), ...(floorMysql ? { mysql: floorMysql } : {}),
    },
  });
  cleanups.push(() => floor.close());
  const floorSources: Record<string, FloorStreamRequest['source'] | undefined> = { sqlite: 'sqlite', postgres: 'postgres', mysql: 'mysql' };
  const results: Array<{ bench: Bench; direct: number; relay: number; floor: number | undefined; bytesPerRow: number; directCpu: Record<string, number>; relayCpu: Record<string, number>; floorCpu: Record<string, number> | undefined }> = [];
  const hub = () => [sys.hub.server.pid!];
  const agentRole: ProcessRoles = inline ? {} : { agent: () => [agent.pid] };
  const leaf = () => natsServerChildren(agent.pid).filter((pid) => pid !== sys.hub.server.pid);
  const self = () => [process.pid];
  // The direct connector's SQLite worker is this process's child; the relay's is the agent's.
  const directChild = () => sqliteWorkers(process.pid);
  const agentChild = () => sqliteWorkers(agent.pid);
  for (const bench of benches) {
    const site = agent.sites.find((s) => s.name === bench.entry.name);
    if (!site) {
      console.log(`${bench.label}: skipped (the agent could not open it)`);
      continue;
    }
    let bytes = 0;
    const relay = async () => {
      const t0 = performance.now();
      const res = await sys.call(`/integrator/sites/${site.haloGuid}/queries/immediate`, {
        method: 'POST', body: JSON.stringify({ command: { text: QUERY } }), headers: { accept: 'application/x-ndjson' },
      });
      if (res.status !== 200) throw new Error(`facade answered ${res.status}: ${await res.text()}`);
      const body = await drainBody(res);
      bytes = body.bytes;
      return { rows: body.lines, seconds: (performance.now() - t0) / 1000 };
    };
    const server: ProcessRoles = bench.server ? { 'db server': () => processesNamed(bench.server!) } : {};
    const sqlite = bench.direct.engine === 'sqlite';
    const directRoles: ProcessRoles = { 'this process': self, ...(sqlite ? { 'db child': directChild } : {}), ...server };
    const relayRoles: ProcessRoles = { 'this process': self, hub, leaf, ...agentRole, ...(sqlite ? { 'db child': agentChild } : {}), ...server };
    const source = floorSources[bench.direct.engine];
    const viaFloor = async () => {
      const t0 = performance.now();
      const request = { source, encoding: 'js', parameters: [] } as FloorStreamRequest;
      const res = await fetch(`${floor.url}/stream`, { method: 'POST', body: JSON.stringify(request) });
      const body = await drainBody(res);
      return { rows: body.lines, seconds: (performance.now() - t0) / 1000 };
    };
    const floorRoles: ProcessRoles = { 'this process': self, hub, leaf: () => [floorLeaf.server.pid!], agent: () => [floor.pids.agent], facade: () => [floor.pids.facade], ...server };
    const direct = await best(() => streamDirect(bench.direct), directRoles);
    const viaRelay = await best(relay, relayRoles);
    const floored = source ? await best(viaFloor, floorRoles) : undefined;
    results.push({ bench, direct: direct.rate, relay: viaRelay.rate, floor: floored?.rate, bytesPerRow: bytes / ROWS, directCpu: direct.cpu, relayCpu: viaRelay.cpu, floorCpu: floored?.cpu });
  }

  console.log(`engines benchmark: ${ROWS} rows (id, name, amount, created) streamed per engine, best of ${REPEAT} after a warm-up; node ${process.version}`);
  console.log('engine           direct rows/s   relay rows/s   relay/direct   floor/direct   NDJSON bytes/row');
  for (const { bench, direct, relay, floor: floorRate, bytesPerRow } of results) {
    const label = `${bench.label}${bench.note ? ' *' : ''}`;
    const floorRatio = floorRate === undefined ? 'n/a' : `${fmt(floorRate / direct)}x`;
    console.log(`${label.padEnd(16)} ${fmt(direct, 0).padStart(13)}  ${fmt(relay, 0).padStart(13)}  ${`${fmt(relay / direct)}x`.padStart(13)}  ${floorRatio.padStart(13)}  ${fmt(bytesPerRow, 0).padStart(17)}`);
  }
  console.log('aim: relay/direct >= 0.8x for every engine');
  console.log('floor: the same statement streamed as NDJSON by bare processes of the same shape that do nothing else (floor-relay.ts; none for the TDS responder)');
  console.log(`CPU per query (one ${ROWS}-row stream) of each process on the path (/proc/<pid>/stat utime+stime; "this process" holds the facade, registry${inline ? ', agent' : ''} and HTTP client on the relay path):`);
  for (const { bench, directCpu, relayCpu, floorCpu } of results) {
    console.log(bench.label);
    console.log(`  direct  ${cpuLine('query', directCpu, 1)}`);
    console.log(`  relay   ${cpuLine('query', relayCpu, 1)}`);
    if (floorCpu) console.log(`  floor   ${cpuLine('query', floorCpu, 1)}`);
  }
  console.log(`direct: connector.stream() in this process; relay: NDJSON through the facade (this process), hub, leaf and the agent (${inline ? 'this process too: BENCH_AGENT=inline' : 'its own process'})`);
  console.log('* TDS responder: a test-only TDS server answering from a generated fixture; its figures measure the wire path');
  console.log('  (tedious, TDS framing, the relay) only, not SQL Server: no query runs, and the responder shares this process.');
} finally {
  for (const fn of cleanups.reverse()) await fn().catch((err: unknown) => console.error(err));
  for (const name of Object.values(PASSWORD_ENV)) delete process.env[name];
}
