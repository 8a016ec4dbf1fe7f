import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { AppError } from '@halo/contracts';
import type { Cell } from '@halo/contracts';
import type { ResultCursor } from '@halo/pms';
import { ENDLESS_COUNT, param, reader, sampleConnector, sampleFile } from './fixtures.ts';
import { cpuTicks, isRunning, onlyWorkerPid } from './process-stats.ts';

const isCode = (code: string, message?: RegExp) => (error: unknown) =>
  error instanceof AppError && error.code === code && (message === undefined || message.test(error.message));

/** Rows 1..n, each with a ~100-character string: enough to span many batches and to take a while. */
const counted = (n: number) =>
  `WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < ${n}) SELECT x, printf('%.100c', 'x') AS pad FROM c`;

async function drain(cursor: ResultCursor): Promise<Cell[][][]> {
  const batches: Cell[][][] = [];
  for await (const batch of cursor) batches.push(batch);
  return batches;
}

test('stream: columns before the first row, batches of about batchBytes or batchRows, same rows as query()', async (t) => {
  const { connector } = await sampleConnector(t);
  const text = 'SELECT AptNum, PatNum, ProcDescript FROM appointment ORDER BY AptNum';
  const whole = await connector.query(reader(text));

  const bySize = await connector.stream(reader(text, { batchBytes: 1_024 }));
  assert.deepEqual(bySize.columns, whole.columns);
  assert.throws(() => bySize.summary(), isCode('internal'));
  const batches = await drain(bySize);
  assert.ok(batches.length > 10, `${batches.length} batches`);
  for (const batch of batches) assert.ok(Buffer.byteLength(JSON.stringify(batch)) <= 1_024);
  assert.deepEqual(batches.flat(), whole.rows);
  const summary = bySize.summary();
  assert.equal(summary.rowCount, whole.rowCount);
  assert.equal(summary.bytes, whole.bytes);
  assert.equal(summary.affected, undefined);
  assert.ok(summary.executionMs >= 0);

  const byRows = await drain(await connector.stream(reader(text, { batchRows: 7 })));
  assert.ok(byRows.slice(0, -1).every((batch) => batch.length === 7));
  assert.deepEqual(byRows.flat(), whole.rows);

  // One row larger than batchBytes travels alone.
  const wide = await drain(await connector.stream(reader("SELECT printf('%.5000c', 'w') UNION ALL SELECT 'a'", { batchBytes: 1_000 })));
  assert.deepEqual(wide.map((batch) => batch.length), [1, 1]);
  await assert.rejects(connector.stream(reader('SELECT 1', { batchRows: 0 })), isCode('bad_request'));
});

test('stream: scalar gives one row of one cell, nonQuery no rows and the affected count', async (t) => {
  const { connector } = await sampleConnector(t, { allowWrites: true });
  const scalar = await connector.stream(reader('SELECT count(*), 2 FROM patient', { executionMode: 'scalar' }));
  assert.deepEqual(scalar.columns.length, 1);
  assert.deepEqual(await drain(scalar), [[[200]]]);
  assert.equal(scalar.summary().rowCount, 1);

  const write = await connector.stream(reader('UPDATE patient SET Preferred = @p WHERE PatNum <= 3', {
    executionMode: 'nonQuery', parameters: [param('@p', 'NVarChar', 'Pat')],
  }));
  assert.deepEqual(write.columns, []);
  assert.deepEqual(await drain(write), []);
  assert.equal(write.summary().affected, 3);
  assert.equal(write.summary().rowCount, 0);
});

test('stream rejects before any row for bad SQL, refused writes and bad parameters; the connector goes on', async (t) => {
  const { connector } = await sampleConnector(t);
  await assert.rejects(connector.stream(reader('SELECT NoSuchColumn FROM patient')), isCode('query_failed'));
  await assert.rejects(connector.stream(reader('DELETE FROM patient')), isCode('writes_disabled'));
  await assert.rejects(connector.stream(reader('DELETE FROM patient', { executionMode: 'nonQuery' })), isCode('writes_disabled'));
  await assert.rejects(connector.stream(reader('SELECT * FROM patient WHERE PatNum = @patNum')), isCode('bad_request', /@patNum/));
  await assert.rejects(connector.stream(reader('SELECT ?')), isCode('bad_request'));
  assert.deepEqual(await drain(await connector.stream(reader('SELECT 1'))), [[[1]]]);
});

test('memory stays flat while ~190 MB of JSON streams through parent and worker', async (t) => {
  const path = sampleFile(t, 5);
  const probe = fileURLToPath(new URL('./stream-memory-probe.ts', import.meta.url));
  // The probe is the connector's parent. V8 grows its young generation with the allocation rate (up to
  // 2 x 64 MiB of pure garbage on a large machine), which would swamp what this test is about: memory held
  // for the result. The flag pins it, as the worker's own flags do (sqlite-process.ts).
  const { stdout } = await promisify(execFile)(process.execPath, ['--max-semi-space-size=8', probe, path, '1000000'], { timeout: 120_000 });
  const figures = JSON.parse(stdout.trim()) as Record<string, number>;
  const mib = (bytes: number | undefined) => Math.round((bytes ?? NaN) / 2 ** 20);
  t.diagnostic(`parent RSS ${mib(figures.parentBefore)} -> ${mib(figures.parentPeak)} MiB, worker RSS ${mib(figures.workerBefore)} -> ${mib(figures.workerPeak)} MiB, ${mib(figures.bytes)} MiB of JSON in ${figures.batches} batches, ${figures.executionMs} ms`);
  assert.equal(figures.received, 1_000_000);
  assert.equal(figures.rowCount, 1_000_000);
  assert.ok((figures.bytes ?? 0) > 180 * 2 ** 20);
  const limit = 100 * 2 ** 20;
  assert.ok((figures.parentPeak ?? Infinity) - (figures.parentBefore ?? 0) < limit, 'parent RSS grew by more than 100 MiB');
  assert.ok((figures.workerPeak ?? Infinity) - (figures.workerBefore ?? 0) < limit, 'worker RSS grew by more than 100 MiB');
});

test('a consumer that pauses keeps the worker paused', async (t) => {
  const { connector } = await sampleConnector(t);
  const cursor = await connector.stream(reader(counted(10_000_000), { batchRows: 100 }));
  const iterator = cursor[Symbol.asyncIterator]();
  assert.equal((await iterator.next()).value?.length, 100);
  const worker = onlyWorkerPid();
  await sleep(100); // let the read-ahead batches land
  const before = cpuTicks(worker);
  await sleep(1_000);
  const used = cpuTicks(worker) - before;
  // A worker still reading would burn about 100 ticks in this second; a paused one none.
  assert.ok(used <= 10, `the worker used ${used} ticks of CPU while the consumer paused`);
  let received = 100;
  for (let result = await iterator.next(); !result.done && received < 5_000; result = await iterator.next()) received += result.value.length;
  assert.ok(received >= 5_000);
  await iterator.return?.();
});

test('cancelled: cancel() mid-stream kills the worker within a second and the next query works', async (t) => {
  const { connector } = await sampleConnector(t);
  const cursor = await connector.stream(reader(counted(100_000_000)));
  const worker = onlyWorkerPid();
  let batches = 0;
  await assert.rejects(async () => {
    for await (const batch of cursor) {
      assert.ok(batch.length > 0);
      batches += 1;
      if (batches === 20) void cursor.cancel();
    }
  }, isCode('cancelled', /cancelled/));
  assert.equal(batches, 20);
  const started = Date.now();
  while (isRunning(worker) && Date.now() - started < 1_000) await sleep(10);
  assert.equal(isRunning(worker), false, 'the worker still runs a second after cancel()');
  await cursor.cancel(); // idempotent
  assert.deepEqual((await connector.query(reader('SELECT count(*) FROM patient'))).rows, [[200]]);
  assert.notEqual(onlyWorkerPid(), worker);
});

test('cancel() with an AppError ends iteration with that error, also while SQLite is busy inside one step', async (t) => {
  const { connector } = await sampleConnector(t);
  const cursor = await connector.stream(reader(ENDLESS_COUNT, { deadline: Date.now() + 60_000 }));
  const worker = onlyWorkerPid();
  const reason = new AppError('gone', 'client went away');
  setTimeout(() => void cursor.cancel(reason), 200);
  await assert.rejects(drain(cursor), (error) => error === reason);
  assert.equal(isRunning(worker), false);
  assert.deepEqual((await connector.query(reader('SELECT 5'))).rows, [[5]]);
});

test('the deadline and the abort signal stop a statement during iteration', async (t) => {
  const { connector } = await sampleConnector(t);
  const slow = await connector.stream(reader(counted(100_000_000), { deadline: Date.now() + 400 }));
  const first = onlyWorkerPid();
  await assert.rejects(async () => {
    for await (const _batch of slow) await sleep(50); // a slow consumer still ends at the deadline
  }, isCode('deadline_exceeded', /deadline/));
  assert.equal(isRunning(first), false);

  const controller = new AbortController();
  const aborted = await connector.stream(reader(counted(100_000_000), { signal: controller.signal }));
  const second = onlyWorkerPid();
  let batches = 0;
  await assert.rejects(async () => {
    for await (const _batch of aborted) if (++batches === 3) controller.abort();
  }, isCode('cancelled', /cancelled/));
  assert.equal(isRunning(second), false);

  const reason = new AppError('gone', 'client went away');
  const byReason = new AbortController();
  const third = await connector.stream(reader(ENDLESS_COUNT, { signal: byReason.signal }));
  setTimeout(() => byReason.abort(reason), 100);
  await assert.rejects(drain(third), (error) => error === reason);
  assert.deepEqual((await connector.query(reader('SELECT 6'))).rows, [[6]]);
});

test('a cursor nobody reads is stopped by its deadline and frees the connector', async (t) => {
  const { connector } = await sampleConnector(t);
  const idle = await connector.stream(reader(counted(100_000_000), { deadline: Date.now() + 300 }));
  const started = Date.now();
  assert.deepEqual((await connector.query(reader('SELECT 7'))).rows, [[7]]);
  assert.ok(Date.now() - started >= 250, 'the second statement ran before the first was finished');
  await assert.rejects(drain(idle), isCode('deadline_exceeded'));
});

test('breaking out of for await stops the statement and frees the connector', async (t) => {
  const { connector } = await sampleConnector(t);
  const cursor = await connector.stream(reader(counted(100_000_000)));
  const worker = onlyWorkerPid();
  let batches = 0;
  for await (const _batch of cursor) if (++batches === 5) break;
  // The worker was waiting for credit, so it finalised the statement itself and stays for the next one.
  assert.deepEqual((await connector.query(reader('SELECT 8'))).rows, [[8]]);
  assert.equal(onlyWorkerPid(), worker);
  assert.throws(() => cursor.summary(), isCode('internal'));

  // Busy inside one long step after its first row, the worker cannot answer: it is killed instead.
  const busy = await connector.stream(reader(
    'WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 1000000000) SELECT x FROM c WHERE x = 1 OR x = 1000000000',
    { batchRows: 1 },
  ));
  const started = Date.now();
  for await (const batch of busy) {
    assert.deepEqual(batch, [[1]]);
    break;
  }
  assert.ok(Date.now() - started < 1_000, `leaving took ${Date.now() - started} ms`);
  assert.equal(isRunning(worker), false);
  assert.deepEqual((await connector.query(reader('SELECT 9'))).rows, [[9]]);
});

test('maxRows and maxBytes end a stream with result_too_large and stop the statement', async (t) => {
  const { connector } = await sampleConnector(t);
  const worker = onlyWorkerPid();
  let received = 0;
  await assert.rejects(async () => {
    for await (const batch of await connector.stream(reader(counted(100_000_000), { maxRows: 50_000, batchRows: 1_000 }))) {
      received += batch.length;
    }
  }, isCode('result_too_large', /50000 rows/));
  // Batches before the limit arrive; the one holding the row past it does not.
  assert.ok(received > 40_000 && received <= 50_000, `${received} rows`);
  await assert.rejects(drain(await connector.stream(reader(counted(100_000_000), { maxBytes: 1_000_000 }))), isCode('result_too_large'));
  // The worker stopped the statement itself and serves the next one.
  assert.deepEqual((await connector.query(reader('SELECT 10'))).rows, [[10]]);
  assert.equal(onlyWorkerPid(), worker);
});

test('statements run one at a time: a second stream waits for the first cursor', async (t) => {
  const { connector } = await sampleConnector(t);
  const first = await connector.stream(reader(counted(1_000_000)));
  let secondReady = false;
  const second = connector.stream(reader('SELECT 11')).then((cursor) => {
    secondReady = true;
    return cursor;
  });
  const iterator = first[Symbol.asyncIterator]();
  await iterator.next();
  await sleep(200);
  assert.equal(secondReady, false);
  await iterator.return?.();
  assert.deepEqual(await drain(await second), [[[11]]]);

  const third = await connector.stream(reader('SELECT 12'));
  const fourth = connector.query(reader('SELECT 13'));
  await sleep(100);
  assert.deepEqual(await drain(third), [[[12]]]);
  assert.deepEqual((await fourth).rows, [[13]]);
});

test('close() cancels an open cursor', async (t) => {
  const { connector } = await sampleConnector(t);
  const cursor = await connector.stream(reader(counted(100_000_000)));
  const worker = onlyWorkerPid();
  await connector.close();
  assert.equal(isRunning(worker), false);
  await assert.rejects(drain(cursor), isCode('internal', /closed/));
});
