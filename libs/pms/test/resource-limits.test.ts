// Memory and row-size limits against real engines: a SQLite worker that takes more memory than its limit is killed
// and its statement fails with resource_limit_exceeded (its peak RSS read from /proc), MariaDB's session stops at
// max_session_mem_used, and a row over maxRowBytes fails the statement on SQLite, PostgreSQL and MariaDB.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { setTimeout } from 'node:timers/promises';
import { AppError } from '@halo/contracts';
import { openConnector } from '@halo/pms';
import type { Connector } from '@halo/pms';
import { reader, sampleFile } from './fixtures.ts';
import { workerPids } from './process-stats.ts';
import { deferCleanup, mysqlServer, postgresServer, sampleServerDatabase } from './server-databases.ts';

const MiB = 1024 ** 2;
// The repro: ~1 GB inside one sqlite3_step(), for a one-cell result.
const RANDOMBLOB = 'SELECT length(randomblob(500000000) || randomblob(1)) AS n';

const limitError = (error: unknown) => error instanceof AppError && error.code === 'resource_limit_exceeded' && error.status === 413;

/** Peak resident memory (VmHWM) of each of this process's SQLite workers while `run` runs, in bytes. */
async function peakWorkerMemory<T>(run: () => Promise<T>): Promise<{ result: PromiseSettledResult<T>; peaks: number[] }> {
  const peaks = new Map<number, number>();
  const sample = () => {
    for (const pid of workerPids()) {
      try {
        const kib = Number(/^VmHWM:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
        peaks.set(pid, Math.max(peaks.get(pid) ?? 0, kib * 1024));
      } catch {
        // exited meanwhile
      }
    }
  };
  const timer = setInterval(sample, 2);
  const [result] = await Promise.allSettled([run()]);
  clearInterval(timer);
  return { result, peaks: [...peaks.values()] };
}

test('sqlite: a statement past maxMemoryBytes is killed with resource_limit_exceeded, each worker stays bounded', async (t) => {
  const path = sampleFile(t, 5);
  const limit = 160 * MiB;
  const connectors = await Promise.all([1, 2, 3].map(() => openConnector({ engine: 'sqlite', path, maxMemoryBytes: limit })));
  t.after(() => Promise.all(connectors.map((c) => c.close())));
  // Three at once, as concurrent integrator queries run: one worker process each, each with its own limit.
  const { result, peaks } = await peakWorkerMemory(() => Promise.allSettled(connectors.map((c) => c.query(reader(RANDOMBLOB, { deadline: Date.now() + 120_000 })))));
  assert.equal(result.status, 'fulfilled');
  for (const outcome of result.status === 'fulfilled' ? result.value : []) {
    assert.equal(outcome.status, 'rejected', 'the statement must not complete');
    if (outcome.status === 'rejected') assert.ok(limitError(outcome.reason), String(outcome.reason));
  }
  assert.equal(peaks.length, 3);
  // Without the limit each worker peaks at ~1 GB; with it, at the limit plus what one 5 ms sample lets through.
  for (const peak of peaks) assert.ok(peak < 2 * limit, `worker peaked at ${Math.round(peak / MiB)} MiB`);
  // The next statement gets a fresh worker.
  assert.deepEqual((await connectors[0]!.query(reader('SELECT count(*) FROM patient'))).rows, [[5]]);
  // Quiet for over a second, the watchdog thread parks; the next statement must wake it.
  await setTimeout(1_500);
  const parked = await peakWorkerMemory(() => connectors[0]!.query(reader(RANDOMBLOB, { deadline: Date.now() + 120_000 })));
  assert.equal(parked.result.status, 'rejected', 'the statement must not complete');
  if (parked.result.status === 'rejected') assert.ok(limitError(parked.result.reason), String(parked.result.reason));
  for (const peak of parked.peaks) assert.ok(peak < 2 * limit, `worker peaked at ${Math.round(peak / MiB)} MiB`);
});

test('sqlite: a row over maxRowBytes fails with resource_limit_exceeded; smaller rows pass', async (t) => {
  const connector = await openConnector({ engine: 'sqlite', path: sampleFile(t, 5), maxRowBytes: MiB });
  t.after(() => connector.close());
  await assert.rejects(connector.query(reader('SELECT randomblob(2000000) AS b')), limitError);
  await assert.rejects(connector.query(reader("SELECT printf('%.*c', 1100000, 'x') AS s")), limitError);
  assert.equal((await connector.query(reader('SELECT length(randomblob(2000000)) AS n, randomblob(100000) AS b'))).rows[0]?.[0], 2_000_000);
  // A query's own maxRowBytes overrides the connector's.
  assert.equal((await connector.query(reader('SELECT randomblob(2000000) AS b', { maxRowBytes: 4 * MiB }))).rowCount, 1);
});

test('postgres: a row over maxRowBytes fails with resource_limit_exceeded; the connection serves the next query', async (t) => {
  const config = await sampleServerDatabase(t, postgresServer(), { patients: 5 });
  const connector: Connector = await openConnector({ ...config, maxRowBytes: MiB });
  deferCleanup(t, () => connector.close());
  await assert.rejects(connector.query(reader("SELECT repeat('x', 2000000) AS s")), limitError);
  assert.deepEqual((await connector.query(reader("SELECT length(repeat('x', 2000000)) AS n"))).rows, [[2_000_000]]);
});

test('mariadb: the session stops at maxMemoryBytes (max_session_mem_used) and rows over maxRowBytes fail', async (t) => {
  const config = await sampleServerDatabase(t, mysqlServer(), { patients: 5 });
  const connector: Connector = await openConnector({ ...config, maxMemoryBytes: 8 * MiB, maxRowBytes: MiB });
  deferCleanup(t, () => connector.close());
  // A hash join and a sort over 300 000 rows need far more than 8 MiB of session memory.
  const join = 'SELECT a.seq, count(*) AS n FROM seq_1_to_300000 a JOIN seq_1_to_300000 b ON a.seq = b.seq + 0 GROUP BY a.seq ORDER BY n DESC LIMIT 1';
  await assert.rejects(connector.query(reader(join)), limitError);
  assert.deepEqual((await connector.query(reader('SELECT count(*) AS n FROM patient'))).rows, [[5]]);
  await assert.rejects(connector.query(reader("SELECT repeat('x', 2000000) AS s")), limitError);
  assert.deepEqual((await connector.query(reader('SELECT 1 AS one'))).rows, [[1]]);
});
