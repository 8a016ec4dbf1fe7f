// The behaviour PostgreSQL and MariaDB connectors share, run against each real server by postgres.test.ts and
// mysql.test.ts with the engine's own SQL for slow and generated rows and its own view of running statements.
import { test } from 'node:test';
import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { AppError } from '@halo/contracts';
import type { Cell } from '@halo/contracts';
import { getProfile } from '@halo/pms';
import { SAMPLE_PMS_VERSION } from '@halo/sample-practice';
import type { Connector, MysqlConfig, PostgresConfig, ResultCursor } from '@halo/pms';
import { param, reader, sampleConnector } from './fixtures.ts';
import { connectorFor, sampleServerDatabase } from './server-databases.ts';

/** What differs between the engines. */
export interface EngineHooks<C extends PostgresConfig | MysqlConfig> {
  name: string;
  server(): C;
  /** Statements of the connector's login running on the server in `config`'s database right now. */
  running(t: TestContext, config: C): Promise<() => Promise<number>>;
  /** n rows, each taking ~5 ms of server time (@n: Int); x is the first column. */
  slowRows: string;
  /** n rows at full speed (@n: Int), columns x and pad (100 characters). */
  fastRows: string;
  /** One row after sleeping @s seconds (@s: Float). */
  sleep: string;
}

export const isCode = (code: string, message?: RegExp) => (error: unknown) =>
  error instanceof AppError && error.code === code && (message === undefined || message.test(error.message));

export async function drain(cursor: ResultCursor): Promise<Cell[][][]> {
  const batches: Cell[][][] = [];
  for await (const batch of cursor) batches.push(batch);
  return batches;
}

/** Polls until `count()` is 0 (the server let go of the statement) or fails after `ms`. */
async function gone(count: () => Promise<number>, ms = 3_000): Promise<void> {
  const until = Date.now() + ms;
  for (;;) {
    const n = await count();
    if (n === 0) return;
    if (Date.now() > until) assert.fail(`${n} statement(s) still running on the server`);
    await sleep(50);
  }
}

export function serverConnectorSuite<C extends PostgresConfig | MysqlConfig>(hooks: EngineHooks<C>): void {
  const n = (value: number) => param('@n', 'Int', String(value));

  test(`${hooks.name}: the sample profile reads identity, catalogue and integration; a query gives SQLite's rows`, async (t) => {
    const config = await sampleServerDatabase(t, hooks.server());
    const connector = await connectorFor(t, config);
    assert.equal(connector.identity(), `${config.engine}://${config.host}:${config.port}/${config.database}`);
    assert.doesNotMatch(connector.identity(), /password|root@|postgres@/);
    const profile = getProfile('sample');
    assert.deepEqual(await profile.readIdentity(connector), { pmsId: 'PMS-1001', practiceName: 'Bright Smiles Dental', practiceManagementVersion: SAMPLE_PMS_VERSION });
    assert.deepEqual(await profile.catalogues(connector), [{ name: config.database, isDefault: true }]);
    assert.equal(await profile.integrationEnabled(connector), true);
    assert.equal(await profile.integrationEnabled(connector, 'eServices'), false);

    const { connector: sqlite } = await sampleConnector(t, { patients: 50 });
    const text = `SELECT AptNum, PatNum, AptDateTime, DateTimeArrived, ProcDescript, Note FROM appointment
      WHERE PatNum <= @patNum AND AptDateTime >= @from ORDER BY AptNum`;
    const parameters = [param('@patNum', 'Int', '20'), param('@from', 'DateTime', '2020-01-01')];
    const expected = await sqlite.query(reader(text, { parameters }));
    const actual = await connector.query(reader(text, { parameters }));
    assert.ok(expected.rowCount > 5);
    assert.deepEqual(actual.rows, expected.rows);
    const patient = 'SELECT PatNum, LName, Birthdate, DateFirstVisit, EstBalance FROM patient ORDER BY PatNum';
    assert.deepEqual((await connector.query(reader(patient))).rows, (await sqlite.query(reader(patient))).rows);
  });

  test(`${hooks.name}: a large result streams with bounded memory`, async (t) => {
    const probe = fileURLToPath(new URL('./server-stream-probe.ts', import.meta.url));
    const { stdout } = await promisify(execFile)(process.execPath, ['--max-semi-space-size=8', probe, JSON.stringify(hooks.server()), '1000000'], { timeout: 180_000 });
    const figures = JSON.parse(stdout.trim()) as Record<string, number>;
    const mib = (bytes: number | undefined) => Math.round((bytes ?? NaN) / 2 ** 20);
    t.diagnostic(`RSS ${mib(figures.before)} -> ${mib(figures.peak)} MiB, ${mib(figures.bytes)} MiB of JSON in ${figures.batches} batches, ${figures.executionMs} ms`);
    assert.equal(figures.received, 1_000_000);
    assert.equal(figures.last, 1_000_000);
    assert.ok((figures.bytes ?? 0) > 180 * 2 ** 20);
    assert.ok((figures.peak ?? Infinity) - (figures.before ?? 0) < 100 * 2 ** 20, 'RSS grew by more than 100 MiB');
  });

  test(`${hooks.name}: batches of about batchBytes / batchRows; scalar; maxRows`, async (t) => {
    const connector = await connectorFor(t, hooks.server());
    const whole = await connector.query(reader(hooks.fastRows, { parameters: [n(2_000)] }));
    assert.equal(whole.rowCount, 2_000);
    const bySize = await drain(await connector.stream(reader(hooks.fastRows, { parameters: [n(2_000)], batchBytes: 4_096 })));
    assert.ok(bySize.length > 20);
    for (const batch of bySize) assert.ok(Buffer.byteLength(JSON.stringify(batch)) <= 4_096);
    assert.deepEqual(bySize.flat(), whole.rows);
    const byRows = await drain(await connector.stream(reader(hooks.fastRows, { parameters: [n(2_000)], batchRows: 7 })));
    assert.ok(byRows.slice(0, -1).every((batch) => batch.length === 7));
    assert.deepEqual(byRows.flat(), whole.rows);

    const scalar = await connector.query(reader(hooks.fastRows, { parameters: [n(100_000)], executionMode: 'scalar' }));
    assert.deepEqual(scalar.rows, [[1]]);
    assert.equal(scalar.columns.length, 1);
    await assert.rejects(connector.query(reader(hooks.fastRows, { parameters: [n(5_000)], maxRows: 1_000 })), isCode('result_too_large'));
    assert.equal((await connector.query(reader(hooks.fastRows, { parameters: [n(3)] }))).rowCount, 3);
  });

  test(`${hooks.name}: cancel() mid-stream stops the statement on the server; the connector serves the next query`, async (t) => {
    const config = await sampleServerDatabase(t, hooks.server(), { patients: 1 });
    const connector = await connectorFor(t, config);
    const running = await hooks.running(t, config);
    const cursor = await connector.stream(reader(hooks.slowRows, { parameters: [n(100_000)], batchRows: 5 }));
    const iterator = cursor[Symbol.asyncIterator]();
    assert.equal((await iterator.next()).value?.length, 5);
    const pending = iterator.next().then((r) => r.value?.length);
    await sleep(30);
    assert.ok(await running() >= 1, 'the statement runs on the server');
    const started = Date.now();
    await cursor.cancel();
    await assert.rejects(pending.then(() => iterator.next()), isCode('cancelled', /cancelled/));
    assert.ok(Date.now() - started < 2_000);
    await gone(running);
    assert.deepEqual((await connector.query(reader('SELECT 1 AS one'))).rows, [[1]]);

    // An AppError reason is what iteration throws.
    const second = await connector.stream(reader(hooks.slowRows, { parameters: [n(100_000)], batchRows: 5 }));
    await second.cancel(new AppError('cancelled', 'the requester cancelled'));
    await assert.rejects(drain(second), isCode('cancelled'));
    await gone(running);
  });

  test(`${hooks.name}: break and an aborted signal stop the statement too`, async (t) => {
    const config = await sampleServerDatabase(t, hooks.server(), { patients: 1 });
    const connector = await connectorFor(t, config);
    const running = await hooks.running(t, config);
    let seen = 0;
    for await (const batch of await connector.stream(reader(hooks.slowRows, { parameters: [n(100_000)], batchRows: 3 }))) {
      seen += batch.length;
      if (seen >= 6) break;
    }
    await gone(running);
    assert.equal((await connector.query(reader(hooks.fastRows, { parameters: [n(2)] }))).rowCount, 2);

    const controller = new AbortController();
    const query = connector.query(reader(hooks.sleep, { parameters: [param('@s', 'Float', '30')], signal: controller.signal }));
    await sleep(200);
    assert.ok(await running() >= 1);
    controller.abort();
    await assert.rejects(query, isCode('cancelled'));
    await gone(running);
    assert.equal((await connector.query(reader(hooks.fastRows, { parameters: [n(2)] }))).rowCount, 2);
  });

  test(`${hooks.name}: the deadline holds during a long statement and while streaming to a slow consumer`, async (t) => {
    const config = await sampleServerDatabase(t, hooks.server(), { patients: 1 });
    const connector = await connectorFor(t, config);
    const running = await hooks.running(t, config);
    let started = Date.now();
    await assert.rejects(connector.query(reader(hooks.sleep, { parameters: [param('@s', 'Float', '30')], deadline: Date.now() + 700 })), isCode('deadline_exceeded'));
    assert.ok(Date.now() - started < 2_500, `stopped after ${Date.now() - started} ms`);
    await gone(running);

    // Every pull starts a fresh round trip (statement_timeout restarts with each), so only the overall timer
    // can stop a result that is consumed slowly.
    started = Date.now();
    const cursor = await connector.stream(reader(hooks.fastRows, { parameters: [n(1_000_000)], batchRows: 100, deadline: Date.now() + 1_000 }));
    await assert.rejects((async () => {
      for await (const _batch of cursor) await sleep(50);
    })(), isCode('deadline_exceeded'));
    assert.ok(Date.now() - started < 3_000, `stopped after ${Date.now() - started} ms`);
    await gone(running);
    assert.equal((await connector.query(reader(hooks.fastRows, { parameters: [n(2)] }))).rowCount, 2);
  });

  test(`${hooks.name}: reads are read-only; nonQuery only with allowWrites, and then committed`, async (t) => {
    const config = await sampleServerDatabase(t, hooks.server(), { patients: 5 });
    const readOnly = await connectorFor(t, config);
    const count = async (connector: Connector) => (await connector.query(reader('SELECT count(*) FROM patient'))).rows[0]?.[0];
    const before = await count(readOnly);
    const insert = "INSERT INTO patient SELECT PatNum + 1000, LName, FName, MiddleI, Preferred, PatStatus, Gender, Birthdate, Email, HmPhone, WirelessPhone, Address, City, State, Zip, Guarantor, PriProv, DateFirstVisit, EstBalance, DateTStamp FROM patient";
    await assert.rejects(readOnly.query(reader(insert)), isCode('writes_disabled'));
    await assert.rejects(readOnly.query(reader("UPDATE patient SET LName = 'X'")), isCode('writes_disabled'));
    await assert.rejects(readOnly.query(reader('CREATE TABLE sneaky (x int)')), isCode('writes_disabled'));
    await assert.rejects(readOnly.query(reader('DROP TABLE appointment')), isCode('writes_disabled'));
    await assert.rejects(readOnly.query(reader('DELETE FROM patient', { executionMode: 'nonQuery' })), isCode('writes_disabled'));
    assert.equal(await count(readOnly), before);
    assert.equal((await readOnly.query(reader('SELECT count(*) FROM appointment'))).rowCount, 1);

    const writable = await connectorFor(t, config, true);
    await assert.rejects(writable.query(reader('DELETE FROM appointment')), isCode('writes_disabled'), 'reader mode stays read-only');
    const updated = await writable.query(reader('UPDATE patient SET Preferred = @p WHERE PatNum <= @n', {
      executionMode: 'nonQuery', parameters: [param('@p', 'NVarChar', "O'Brien \\ @n"), n(3)],
    }));
    assert.equal(updated.affected, 3);
    assert.deepEqual(updated.rows, []);
    const check = await readOnly.query(reader('SELECT DISTINCT Preferred FROM patient WHERE PatNum <= 3'));
    assert.deepEqual(check.rows, [["O'Brien \\ @n"]]);
    await assert.rejects(writable.query(reader('INSERT INTO nowhere VALUES (1)', { executionMode: 'nonQuery' })), isCode('query_failed'));
    assert.equal(await count(writable), before);
  });

  test(`${hooks.name}: @name parameters outside literals and comments; values never become SQL; errors redacted`, async (t) => {
    // Writable, so the read-only guard (tested on its own) does not stand between these statements and the engine.
    const connector = await connectorFor(t, hooks.server(), true);
    const text = `SELECT @a AS a, '@a' AS literal, @b AS b /* @a */ -- @a
      , @a AS again`;
    const result = await connector.query(reader(text, { parameters: [param('@a', 'NVarChar', "it's ' -- @b"), param('b', 'Int', '7')] }));
    assert.deepEqual(result.rows[0]?.slice(1, 2), ['@a']);
    assert.equal(result.rows[0]?.[0], "it's ' -- @b");
    assert.equal(Number(result.rows[0]?.[2]), 7);
    assert.equal(result.rows[0]?.[3], "it's ' -- @b");
    const injection = await connector.query(reader('SELECT @v AS v', { parameters: [param('@v', 'NVarChar', "\\'; DROP TABLE x; -- ")] }));
    assert.deepEqual(injection.rows, [["\\'; DROP TABLE x; -- "]]);

    await assert.rejects(connector.query(reader('SELECT @missing AS m')), isCode('bad_request', /@missing/));
    await assert.rejects(connector.query(reader('SELECT @x', { parameters: [param('@x', 'Int', 'abc')] })), isCode('bad_request'));
    const syntax = await connector.query(reader("SELEC 'secret-value' FROM patient")).catch((error: unknown) => error);
    assert.ok(isCode('query_failed')(syntax));
    assert.doesNotMatch((syntax as Error).message, /secret-value|SELEC/);
    assert.deepEqual((await connector.query(reader('SELECT 1 AS one'))).rows, [[1]]);
  });

  test(`${hooks.name}: encoded rows are the records query() reads, in batches whose sizes and limits count cells as before`, async (t) => {
    const config = await sampleServerDatabase(t, hooks.server());
    const connector = await connectorFor(t, config);
    const text = 'SELECT PatNum, LName, Birthdate, DateFirstVisit, EstBalance FROM patient ORDER BY PatNum';
    const cells = await connector.query(reader(text));
    const expected = cells.rows.map((row) => Object.fromEntries(cells.columns.map((c, i) => [c.name, row[i] ?? null])));
    for (const format of ['json', 'ndjson'] as const) {
      const cursor = await connector.streamEncoded(reader(text, { batchBytes: 1024 }), format);
      let body = '';
      let count = 0;
      let batches = 0;
      for await (const batch of cursor) {
        assert.equal(batch.bytes, Buffer.byteLength(batch.text));
        body += (format === 'json' && body !== '' ? ',' : '') + batch.text;
        count += batch.count;
        batches++;
      }
      const records = format === 'json' ? JSON.parse(`[${body}]`) : body.trimEnd().split('\n').map((line) => JSON.parse(line));
      assert.deepEqual(records, expected, format);
      assert.equal(count, cells.rowCount);
      assert.ok(batches > 1, `${batches} batches of about 1 KiB`);
      // The summary counts the JSON of cell arrays, whichever form the rows travel in.
      assert.equal(cursor.summary().bytes, cells.bytes);
    }
    const scalarQuery = reader('SELECT LName, PatNum FROM patient ORDER BY PatNum', { executionMode: 'scalar' });
    const scalarCells = await connector.query(scalarQuery);
    const scalar = await connector.streamEncoded(scalarQuery, 'json');
    const scalarText: string[] = [];
    for await (const batch of scalar) scalarText.push(batch.text);
    assert.deepEqual(JSON.parse(`[${scalarText.join(',')}]`), [{ [scalarCells.columns[0]!.name]: scalarCells.rows[0]![0] }]);
    await assert.rejects(async () => {
      for await (const _ of await connector.streamEncoded(reader(text, { maxRowBytes: 20 }), 'json')) { /* drain */ }
    }, isCode('resource_limit_exceeded'));
  });
}
