import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AppError } from '@halo/contracts';
import { ENDLESS_COUNT, reader, sampleConnector } from './fixtures.ts';

const isCode = (code: string, message?: RegExp) => (error: unknown) =>
  error instanceof AppError && error.code === code && (message === undefined || message.test(error.message));

test('a statement past its deadline is stopped and the connector answers the next query', async (t) => {
  const { connector } = await sampleConnector(t);
  const started = Date.now();
  const deadline = started + 500;
  await assert.rejects(connector.query(reader(ENDLESS_COUNT, { deadline })), isCode('deadline_exceeded'));
  const elapsed = Date.now() - started;
  assert.ok(elapsed >= 450 && elapsed < 1_500, `stopped after ${elapsed} ms`);
  assert.deepEqual((await connector.query(reader('SELECT count(*) FROM patient'))).rows, [[200]]);
});

test('a deadline already passed is refused without running', async (t) => {
  const { connector } = await sampleConnector(t);
  await assert.rejects(connector.query(reader('SELECT 1', { deadline: Date.now() - 1 })), isCode('deadline_exceeded'));
  assert.deepEqual((await connector.query(reader('SELECT 1'))).rows, [[1]]);
});

test('an abort stops the running statement', async (t) => {
  const { connector } = await sampleConnector(t);
  const controller = new AbortController();
  const started = Date.now();
  setTimeout(() => controller.abort(), 300);
  await assert.rejects(
    connector.query(reader(ENDLESS_COUNT, { deadline: Date.now() + 60_000, signal: controller.signal })),
    isCode('cancelled', /cancelled/),
  );
  assert.ok(Date.now() - started < 1_300, `stopped after ${Date.now() - started} ms`);
  assert.deepEqual((await connector.query(reader('SELECT 2'))).rows, [[2]]);
});

test('an abort whose reason is an AppError rethrows that reason', async (t) => {
  const { connector } = await sampleConnector(t);
  const controller = new AbortController();
  const reason = new AppError('gone', 'client went away');
  setTimeout(() => controller.abort(reason), 200);
  await assert.rejects(connector.query(reader(ENDLESS_COUNT, { signal: controller.signal })), (error) => error === reason);
});

test('an abort while queued behind a long statement returns at once, and the queue keeps order', async (t) => {
  const { connector } = await sampleConnector(t);
  const long = connector.query(reader(ENDLESS_COUNT, { deadline: Date.now() + 1_000 }));
  const controller = new AbortController();
  const queued = connector.query(reader('SELECT 1', { signal: controller.signal }));
  const after = connector.query(reader('SELECT 3'));
  const started = Date.now();
  controller.abort();
  await assert.rejects(queued, isCode('cancelled'));
  assert.ok(Date.now() - started < 200);
  await assert.rejects(long, isCode('deadline_exceeded'));
  assert.deepEqual((await after).rows, [[3]]);
});

test('the caller\'s event loop keeps running during a long statement', async (t) => {
  const { connector } = await sampleConnector(t);
  let ticks = 0;
  const interval = setInterval(() => { ticks += 1; }, 20);
  t.after(() => clearInterval(interval));
  await assert.rejects(connector.query(reader(ENDLESS_COUNT, { deadline: Date.now() + 1_000 })), isCode('deadline_exceeded'));
  // 50 ticks are due in one second; a blocked loop would see at most one or two.
  assert.ok(ticks >= 25, `only ${ticks} ticks`);
});

test('maxRows and maxBytes stop a result with result_too_large', async (t) => {
  const { connector } = await sampleConnector(t);
  await assert.rejects(connector.query(reader('SELECT * FROM patient', { maxRows: 10 })), isCode('result_too_large'));
  await assert.rejects(connector.query(reader('SELECT * FROM appointment', { maxBytes: 10_000 })), isCode('result_too_large'));
  const exact = await connector.query(reader('SELECT PatNum FROM patient LIMIT 10', { maxRows: 10 }));
  assert.equal(exact.rowCount, 10);
  const bytes = Buffer.byteLength(JSON.stringify(exact.rows));
  const fits = await connector.query(reader('SELECT PatNum FROM patient LIMIT 10', { maxBytes: bytes }));
  assert.equal(fits.bytes, bytes);
  await assert.rejects(connector.query(reader('SELECT PatNum FROM patient LIMIT 10', { maxBytes: bytes - 1 })), isCode('result_too_large'));
});
