import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AppError, RowEncoder, type Cell, type ColumnInfo, type EncodedRows } from '@halo/contracts';
import type { EncodedCursor } from '@halo/pms';
import { ENDLESS_COUNT, reader, sampleConnector } from './fixtures.ts';

async function drain(cursor: EncodedCursor): Promise<EncodedRows[]> {
  const batches: EncodedRows[] = [];
  for await (const batch of cursor) batches.push(batch);
  return batches;
}

/** What the rows are as records, the way the facade answers them. */
const records = (columns: readonly ColumnInfo[], rows: readonly Cell[][]) =>
  rows.map((row) => Object.fromEntries(columns.map((c, i) => [c.name, row[i] ?? null])));

test('SQLite encodes rows in its worker: json batches are the inside of a JSON array of the same records query() reads', async (t) => {
  const { connector } = await sampleConnector(t);
  const text = 'SELECT AptNum, PatNum, ProcDescript FROM appointment ORDER BY AptNum';
  const whole = await connector.query(reader(text));
  const cursor = await connector.streamEncoded(reader(text, { batchBytes: 2_048 }), 'json');
  assert.deepEqual(cursor.columns, whole.columns);
  const batches = await drain(cursor);
  assert.ok(batches.length > 3, `${batches.length} batches`);
  for (const batch of batches) {
    assert.equal(batch.bytes, Buffer.byteLength(batch.text));
    assert.ok(batch.bytes <= 2_048);
    assert.equal((JSON.parse(`[${batch.text}]`) as unknown[]).length, batch.count);
  }
  const json = `[${batches.map((b) => b.text).join(',')}]`;
  assert.deepEqual(JSON.parse(json), records(whole.columns, whole.rows));
  const summary = cursor.summary();
  assert.equal(summary.rowCount, whole.rowCount);
  // The totals are the JSON array's own length: what Halo calls the result's size.
  assert.equal(summary.bytes, Buffer.byteLength(json));
});

test('ndjson batches are one record per line; a scalar is its first cell as one record; no row is no text', async (t) => {
  const { connector } = await sampleConnector(t);
  const text = "SELECT PatNum, LName, 'a\nb \"q\" é' AS odd FROM patient ORDER BY PatNum LIMIT 30";
  const whole = await connector.query(reader(text));
  const batches = await drain(await connector.streamEncoded(reader(text, { batchRows: 7 }), 'ndjson'));
  const lines = batches.map((b) => b.text).join('').split('\n');
  assert.equal(lines.pop(), '');
  assert.deepEqual(lines.map((line) => JSON.parse(line) as unknown), records(whole.columns, whole.rows));
  assert.deepEqual(batches.map((b) => b.count), [7, 7, 7, 7, 2]);

  const scalar = await drain(await connector.streamEncoded(reader('SELECT count(*) AS n, 2 FROM patient', { executionMode: 'scalar' }), 'json'));
  const patients = (await connector.query(reader('SELECT count(*) FROM patient'))).rows[0]![0];
  assert.deepEqual(scalar.map((b) => JSON.parse(`[${b.text}]`) as unknown), [[{ n: patients }]]);
  assert.deepEqual(await drain(await connector.streamEncoded(reader('SELECT 1 AS x WHERE 0'), 'json')), []);
});

test('RowEncoder: a column named __proto__ is an ordinary key, and no columns make empty objects', () => {
  const encoder = new RowEncoder([{ name: '__proto__', type: 'INTEGER' }, { name: 'b', type: 'TEXT' }], 'json');
  const batch = encoder.encode([[1, 'x'], [null, 'y']]);
  assert.equal(batch.text, '{"__proto__":1,"b":"x"},{"__proto__":null,"b":"y"}');
  assert.equal(batch.count, 2);
  assert.equal(new RowEncoder([], 'ndjson').encode([[], []]).text, '{}\n{}\n');
});

test('RowEncoder writes what JSON.stringify writes for the row as an object: key order, repeated names, odd names and values', () => {
  const layouts: string[][] = [
    ['id', 'name', 'amount'],
    ['b', '2', 'a', '1', '10'], // array-index keys come first, ascending
    ['x', 'y', 'x'], // a repeated name keeps its first place and its last value
    ["k'); throw new Error('injected'); ('", '"q"', 'line\nbreak', '\u2028', 'é', ''],
    ['constructor', 'toString', '__proto__', 'hasOwnProperty'],
  ];
  const values: Cell[] = [0, -0, 1.25, 1e21, -5e-324, Number.NaN, Number.POSITIVE_INFINITY, '', 'a"b\\c\u0000\u2028é😀', true, false, null];
  for (const names of layouts) {
    const encoder = new RowEncoder(names.map((name) => ({ name, type: 'TEXT' })), 'ndjson');
    for (let start = 0; start < values.length; start++) {
      const cells = names.map((_, i) => values[(start + i) % values.length]!);
      const record: Record<string, Cell> = {};
      names.forEach((name, i) => Object.defineProperty(record, name, { value: cells[i], enumerable: true, writable: true, configurable: true }));
      assert.equal(encoder.row(cells), JSON.stringify(record), `${JSON.stringify(names)} ${JSON.stringify(cells)}`);
    }
    // A short row (a driver that sent fewer cells) fills with null, as before.
    assert.equal(encoder.row([]), JSON.stringify(Object.fromEntries(names.map((n) => [n, null]))));
  }
});

test('a whole query gets its columns with its rows: the same columns and rows for many batches, one row or none', async (t) => {
  const { connector } = await sampleConnector(t);
  for (const text of ['SELECT AptNum, PatNum, ProcDescript FROM appointment ORDER BY AptNum', 'SELECT LName FROM patient WHERE PatNum = 1', 'SELECT PatNum, LName FROM patient WHERE 0']) {
    const streamed = await connector.streamEncoded(reader(text, { batchBytes: 2_048 }), 'json');
    const expected = { columns: streamed.columns, batches: await drain(streamed) };
    const whole = await connector.streamEncoded(reader(text, { batchBytes: 2_048, whole: true }), 'json');
    assert.deepEqual(whole.columns, expected.columns, text);
    assert.ok(whole.columns.length > 0, text);
    assert.deepEqual(await drain(whole), expected.batches, text);
  }
});

test('a whole query whose statement runs long before its first row is still stopped by an abort and by its deadline', async (t) => {
  const { connector } = await sampleConnector(t);
  const controller = new AbortController();
  setTimeout(() => controller.abort(), 300);
  await assert.rejects(connector.streamEncoded(reader(ENDLESS_COUNT, { whole: true, deadline: Date.now() + 60_000, signal: controller.signal }), 'json'),
    (error: unknown) => error instanceof AppError && error.code === 'cancelled');
  await assert.rejects(connector.streamEncoded(reader(ENDLESS_COUNT, { whole: true, deadline: Date.now() + 300 }), 'json'),
    (error: unknown) => error instanceof AppError && error.code === 'deadline_exceeded');
  const after = await connector.streamEncoded(reader('SELECT 2 AS two', { whole: true }), 'json');
  assert.deepEqual(after.columns.map((c) => c.name), ['two']);
  assert.deepEqual((await drain(after)).map((b) => b.text), ['{"two":2}']);
});
