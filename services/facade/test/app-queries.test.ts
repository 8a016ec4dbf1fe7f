import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { AppError, ImmediateQueryFailed, ImmediateQuerySuccessful, LIMITS } from '@halo/contracts';
import { AUTH, LINK_ID, QUERY_URL, RESULT, SITE_ID, queryBody, testApp } from './fakes.ts';

const rowsOf = (data: string): unknown => JSON.parse(Buffer.from(data, 'base64').toString('utf8'));

test('an immediate reader query answers Halo\'s shape: base64 data of the row objects, statusTiming objects, metrics', async (t) => {
  const { app, queries } = testApp({ queryTimeoutMs: 7000 });
  t.after(() => app.close());
  const before = Date.now();
  const payload = queryBody({ catalogue: 'main', maxTimeInQueue: 10_000 }, { parameters: [{ name: '@id', type: 'Int', value: '1' }] });
  const res = await app.inject({ method: 'POST', url: QUERY_URL, headers: AUTH, payload });
  assert.equal(res.statusCode, 200);
  const body = ImmediateQuerySuccessful.parse(res.json());
  assert.match(body.id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  assert.equal(body.siteId, SITE_ID);
  assert.equal(body.integratorId, 'acme');
  assert.equal(body.mode, 'immediate');
  assert.equal(body.status, 'successful');
  assert.equal(body.maxTimeInQueue, 10_000);
  assert.equal(body.commandSize, Buffer.byteLength(JSON.stringify({ text: 'SELECT id, name FROM patients', type: 'text', executionMode: 'reader', parameters: [{ name: '@id', direction: 'input', type: 'Int', value: '1' }] })));
  assert.equal(body.requestSize, Buffer.byteLength(JSON.stringify(payload)));
  assert.deepEqual(body.metrics, { sqlExecutionDuration: 12 });
  const records = [{ id: 1, name: 'Ann' }, { id: 2, name: null }];
  const json = JSON.stringify(records);
  assert.deepEqual(body.result, { rows: 2, size: Buffer.byteLength(json), data: Buffer.from(json).toString('base64') });
  assert.deepEqual(rowsOf((body.result as { data: string }).data), records);
  assert.equal(body.resultSize, Buffer.byteLength(json));
  const completed = Date.parse(body.completedAt);
  assert.equal(completed - Date.parse(body.statusTiming.executing.startTime), 12);
  assert.equal(body.statusTiming.executing.endTime, body.completedAt);
  assert.equal(body.statusTiming.initialising.startTime, body.createdAt);
  assert.ok(Date.parse(body.createdAt) >= before && completed <= Date.now() && completed >= Date.parse(body.createdAt));

  // What the query client was asked to do: defaults applied, deadline = queue time + query timeout.
  const [call] = queries.calls;
  assert.ok(call);
  assert.equal(call.site.linkGuid, LINK_ID);
  assert.equal(call.request.queryId, body.id);
  assert.equal(call.request.catalogue, 'main');
  assert.equal(call.request.maxTimeInQueueMs, 10_000);
  assert.deepEqual(call.request.command, {
    text: 'SELECT id, name FROM patients', type: 'text', executionMode: 'reader',
    parameters: [{ name: '@id', direction: 'input', type: 'Int', value: '1' }],
  });
  assert.ok(call.request.deadline >= before + 17_000 && call.request.deadline <= Date.now() + 17_000);
  assert.equal(call.signal.aborted, false);
});

test('maxTimeInQueue is milliseconds: Halo\'s example 15000 is taken, the default is 30000, over 60000 is 400', async (t) => {
  const { app, queries } = testApp({ queryTimeoutMs: 1000 });
  t.after(() => app.close());
  await app.inject({ method: 'POST', url: QUERY_URL, headers: AUTH, payload: queryBody() });
  await app.inject({ method: 'POST', url: QUERY_URL, headers: AUTH, payload: queryBody({ maxTimeInQueue: 15_000 }) });
  const zero = await app.inject({ method: 'POST', url: QUERY_URL, headers: AUTH, payload: queryBody({ maxTimeInQueue: 0 }) });
  assert.equal(zero.statusCode, 200);
  const [a, b, c] = queries.calls;
  assert.ok(a && b && c);
  assert.equal(a.request.maxTimeInQueueMs, LIMITS.defaultImmediateTimeInQueueMs);
  assert.equal(a.request.maxTimeInQueueMs, 30_000);
  assert.equal(b.request.maxTimeInQueueMs, 15_000);
  assert.equal(c.request.maxTimeInQueueMs, 0);
  assert.equal('catalogue' in a.request, false);
  assert.notEqual(a.request.queryId, b.request.queryId);
  const over = await app.inject({ method: 'POST', url: QUERY_URL, headers: AUTH, payload: queryBody({ maxTimeInQueue: 60_001 }) });
  assert.equal(over.statusCode, 400);
  assert.match(over.json<{ error: { message: string } }>().error.message, /maxTimeInQueue: too big \(at most 60000\)/);
});

test('format=records (our opt-in) returns columns and records instead of data', async (t) => {
  const { app } = testApp();
  t.after(() => app.close());
  const res = await app.inject({ method: 'POST', url: `${QUERY_URL}?format=records`, headers: AUTH, payload: queryBody() });
  assert.equal(res.statusCode, 200);
  const body = ImmediateQuerySuccessful.parse(res.json());
  const records = [{ id: 1, name: 'Ann' }, { id: 2, name: null }];
  // size: the JSON array's bytes, as Halo's size of data.
  assert.deepEqual(body.result, { rows: 2, size: Buffer.byteLength(JSON.stringify(records)), columns: RESULT.columns, records });
  const old = await app.inject({ method: 'POST', url: `${QUERY_URL}?format=base64`, headers: AUTH, payload: queryBody() });
  assert.equal(old.statusCode, 400);
});

test('scalar answers the reader shape with its first cell (no row when empty); nonQuery answers rowsAffected', async (t) => {
  const { app, queries } = testApp();
  t.after(() => app.close());
  const scalar = await app.inject({ method: 'POST', url: QUERY_URL, headers: AUTH, payload: queryBody({}, { executionMode: 'scalar' }) });
  assert.equal(scalar.statusCode, 200);
  const s = ImmediateQuerySuccessful.parse(scalar.json()).result as { rows: number; data: string };
  assert.equal(s.rows, 1);
  assert.deepEqual(rowsOf(s.data), [{ id: 1 }]);

  queries.respond = async () => ({ ...RESULT, rows: [], rowCount: 0 });
  const empty = await app.inject({ method: 'POST', url: QUERY_URL, headers: AUTH, payload: queryBody({}, { executionMode: 'scalar' }) });
  const e = ImmediateQuerySuccessful.parse(empty.json()).result as { rows: number; data: string };
  assert.equal(e.rows, 0);
  assert.deepEqual(rowsOf(e.data), []);

  queries.respond = async () => ({ columns: [], rows: [], rowCount: 0, bytes: 0, affected: 3, timings: { queuedMs: 0, executionMs: 1 } });
  const nonQuery = await app.inject({ method: 'POST', url: QUERY_URL, headers: AUTH, payload: queryBody({}, { text: 'UPDATE x SET y = 1', executionMode: 'nonQuery' }) });
  assert.deepEqual(ImmediateQuerySuccessful.parse(nonQuery.json()).result, { rowsAffected: 3, size: 0 });
});

test('a statement the database refused answers 400 with the query object: status executionFailed, errorDetails and the error envelope', async (t) => {
  const { app, queries } = testApp();
  t.after(() => app.close());
  queries.respond = async () => {
    throw new AppError('query_failed', 'no such table: nope');
  };
  const res = await app.inject({ method: 'POST', url: QUERY_URL, headers: AUTH, payload: queryBody() });
  assert.equal(res.statusCode, 400);
  const body = ImmediateQueryFailed.parse(res.json());
  assert.equal(body.status, 'executionFailed');
  assert.equal(body.siteId, SITE_ID);
  assert.deepEqual(body.errorDetails, { errorType: 'haloLink', errorMessage: 'no such table: nope' });
  assert.deepEqual(body.error, { status: 400, statusText: 'Bad Request', code: 'query_failed', message: 'no such table: nope' });
});

test('a client that disconnects aborts the query signal (real listen)', async (t) => {
  const { app, queries, logs } = testApp();
  t.after(() => app.close());
  let started!: () => void;
  const running = new Promise<void>((resolve) => (started = resolve));
  queries.respond = (_request, signal) => {
    started();
    return new Promise((_resolve, reject) => signal.addEventListener('abort', () => reject(signal.reason), { once: true }));
  };
  const url = await app.listen({ port: 0, host: '127.0.0.1' });
  const client = new AbortController();
  const request = fetch(`${url}${QUERY_URL}`, {
    method: 'POST', headers: { ...AUTH, 'content-type': 'application/json' }, body: JSON.stringify(queryBody()), signal: client.signal,
  });
  await running;
  const [call] = queries.calls;
  assert.ok(call);
  client.abort();
  await assert.rejects(request);
  if (!call.signal.aborted) await once(call.signal, 'abort');
  assert.equal(call.signal.aborted, true);
  // Wait for the handler to log the abandonment, then check it answered nothing and logged no error.
  for (let i = 0; i < 50 && !logs.text.includes('query abandoned'); i++) await new Promise((r) => setTimeout(r, 10));
  assert.match(logs.text, /query abandoned: client disconnected/);
  assert.equal(logs.lines().some((l) => Number(l.level) >= 50), false);

  // The server still answers normally afterwards.
  queries.respond = async () => RESULT;
  const ok = await fetch(`${url}${QUERY_URL}`, { method: 'POST', headers: { ...AUTH, 'content-type': 'application/json' }, body: JSON.stringify(queryBody()) });
  assert.equal(ok.status, 200);
  assert.equal(queries.calls.at(-1)?.signal.aborted, false);
});
