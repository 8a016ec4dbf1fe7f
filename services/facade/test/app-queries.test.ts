import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { LIMITS, QueryResponse } from '@halo/contracts';
import { AUTH, LINK_ID, QUERY_URL, RESULT, SITE_ID, queryBody, testApp } from './fakes.ts';

test('an immediate reader query answers records keyed by column name, with timings and metrics', async (t) => {
  const { app, queries } = testApp({ queryTimeoutMs: 7000 });
  t.after(() => app.close());
  const before = Date.now();
  const res = await app.inject({
    method: 'POST', url: QUERY_URL, headers: AUTH,
    payload: queryBody({ catalogue: 'main', maxTimeInQueue: 10 }, { parameters: [{ name: '@id', type: 'Int', value: '1' }] }),
  });
  assert.equal(res.statusCode, 200);
  const body = QueryResponse.parse(res.json());
  assert.match(body.id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  assert.equal(body.siteId, SITE_ID);
  assert.equal(body.mode, 'immediate');
  assert.equal(body.executionMode, 'reader');
  assert.equal(body.status, 'successful');
  assert.deepEqual(body.metrics, { sqlExecutionDuration: 12, queuedDuration: 5 });
  assert.deepEqual(body.result, {
    rowCount: 2, size: 24, columns: RESULT.columns, records: [{ id: 1, name: 'Ann' }, { id: 2, name: null }],
  });
  const successful = Date.parse(body.statusTiming.successful);
  assert.equal(successful - Date.parse(body.statusTiming.executing), 12);
  assert.equal(Date.parse(body.statusTiming.executing) - Date.parse(body.statusTiming.queued), 5);
  assert.ok(successful >= before && successful <= Date.now());

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

test('maxTimeInQueue defaults to LIMITS.defaultImmediateTimeInQueueSeconds and each query gets a new id', async (t) => {
  const { app, queries } = testApp({ queryTimeoutMs: 1000 });
  t.after(() => app.close());
  await app.inject({ method: 'POST', url: QUERY_URL, headers: AUTH, payload: queryBody() });
  await app.inject({ method: 'POST', url: QUERY_URL, headers: AUTH, payload: queryBody() });
  const [a, b] = queries.calls;
  assert.ok(a && b);
  assert.equal(a.request.maxTimeInQueueMs, LIMITS.defaultImmediateTimeInQueueSeconds * 1000);
  assert.equal('catalogue' in a.request, false);
  assert.notEqual(a.request.queryId, b.request.queryId);
});

test('format=base64 returns result.data, the base64 of the JSON records', async (t) => {
  const { app } = testApp();
  t.after(() => app.close());
  const res = await app.inject({ method: 'POST', url: `${QUERY_URL}?format=base64`, headers: AUTH, payload: queryBody() });
  assert.equal(res.statusCode, 200);
  const body = QueryResponse.parse(res.json());
  assert.equal(body.result.records, undefined);
  assert.ok(body.result.data);
  assert.deepEqual(JSON.parse(Buffer.from(body.result.data, 'base64').toString('utf8')), [{ id: 1, name: 'Ann' }, { id: 2, name: null }]);
  const json = await app.inject({ method: 'POST', url: `${QUERY_URL}?format=json`, headers: AUTH, payload: queryBody() });
  assert.deepEqual(QueryResponse.parse(json.json()).result.records, [{ id: 1, name: 'Ann' }, { id: 2, name: null }]);
});

test('scalar answers the first cell (or null) and nonQuery the affected count', async (t) => {
  const { app, queries } = testApp();
  t.after(() => app.close());
  const scalar = await app.inject({ method: 'POST', url: QUERY_URL, headers: AUTH, payload: queryBody({}, { executionMode: 'scalar' }) });
  assert.equal(scalar.statusCode, 200);
  const s = QueryResponse.parse(scalar.json());
  assert.equal(s.executionMode, 'scalar');
  assert.equal(s.result.scalar, 1);
  assert.equal(s.result.records, undefined);

  queries.respond = async () => ({ ...RESULT, rows: [], rowCount: 0 });
  const empty = await app.inject({ method: 'POST', url: QUERY_URL, headers: AUTH, payload: queryBody({}, { executionMode: 'scalar' }) });
  assert.equal(QueryResponse.parse(empty.json()).result.scalar, null);
  assert.ok('scalar' in (empty.json() as { result: object }).result);

  queries.respond = async () => ({ columns: [], rows: [], rowCount: 0, bytes: 0, affected: 3, timings: { queuedMs: 0, executionMs: 1 } });
  const nonQuery = await app.inject({ method: 'POST', url: QUERY_URL, headers: AUTH, payload: queryBody({}, { text: 'UPDATE x SET y = 1', executionMode: 'nonQuery' }) });
  const n = QueryResponse.parse(nonQuery.json());
  assert.equal(n.executionMode, 'nonQuery');
  assert.equal(n.result.affected, 3);
  assert.equal(n.result.records, undefined);
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
