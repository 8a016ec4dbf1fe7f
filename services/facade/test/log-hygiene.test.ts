import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AppError } from '@halo/contracts';
import { KEY, QUERY_URL, queryBody, testApp } from './fakes.ts';

const SQL_MARKER = 'SQLMARKER7f3a';
const PARAM_MARKER = 'PARAMMARKER9b1c';
const KEY_MARKER = 'KEYMARKER4d2e';
const ROW_MARKER = 'ROWMARKER5e6f';

test('logs (at trace level) never contain query text, parameter values, row data or subscription keys', async (t) => {
  const { app, queries, logs } = testApp();
  t.after(() => app.close());
  const good = { 'ocp-apim-subscription-key': KEY };
  const body = queryBody({}, { text: `SELECT '${SQL_MARKER}'`, parameters: [{ name: '@p', type: 'NVarChar', value: PARAM_MARKER }] });
  queries.respond = async () => ({ columns: [{ name: 'c', type: 'nvarchar' }], rows: [[ROW_MARKER]], rowCount: 1, bytes: 20, timings: { queuedMs: 1, executionMs: 2 } });

  // Success, records, every kind of failure, with the markers in every place a caller can put them.
  assert.equal((await app.inject({ method: 'POST', url: QUERY_URL, headers: good, payload: body })).statusCode, 200);
  assert.equal((await app.inject({ method: 'POST', url: `${QUERY_URL}?format=records`, headers: good, payload: body })).statusCode, 200);
  assert.equal((await app.inject({ method: 'POST', url: QUERY_URL, headers: { 'ocp-apim-subscription-key': KEY_MARKER }, payload: body })).statusCode, 401);
  assert.equal((await app.inject({ method: 'POST', url: QUERY_URL, headers: { ...good, 'content-type': 'application/json' }, payload: `{"command":{"text":"${SQL_MARKER}"` })).statusCode, 400);
  assert.equal((await app.inject({ method: 'POST', url: QUERY_URL, headers: good, payload: { ...body, [SQL_MARKER]: PARAM_MARKER } })).statusCode, 400);
  const badType = queryBody({}, { text: SQL_MARKER, parameters: [{ name: '@p', type: PARAM_MARKER, value: PARAM_MARKER }] });
  assert.equal((await app.inject({ method: 'POST', url: QUERY_URL, headers: good, payload: badType })).statusCode, 400);
  assert.equal((await app.inject({ method: 'POST', url: `/integrator/${SQL_MARKER}?q=${PARAM_MARKER}`, headers: good })).statusCode, 404);
  assert.equal((await app.inject({ method: 'GET', url: `/integrator/sites?practiceManagementSiteId=1&x=${PARAM_MARKER}`, headers: { 'ocp-apim-subscription-key': KEY_MARKER } })).statusCode, 401);
  queries.respond = async () => {
    throw new AppError('query_failed', `syntax error near '${SQL_MARKER}' with ${PARAM_MARKER}`);
  };
  assert.equal((await app.inject({ method: 'POST', url: QUERY_URL, headers: good, payload: body })).statusCode, 400);
  queries.respond = async () => {
    throw new AppError('site_offline', 'offline', { cause: new Error(ROW_MARKER) });
  };
  assert.equal((await app.inject({ method: 'POST', url: QUERY_URL, headers: good, payload: body })).statusCode, 503);

  const text = logs.text;
  assert.ok(text.length > 0 && logs.lines().length >= 20, 'the app logged');
  for (const marker of [SQL_MARKER, PARAM_MARKER, KEY_MARKER, ROW_MARKER, KEY]) {
    assert.equal(text.includes(marker), false, `log contains ${marker}`);
  }
  // It does log what operators need: ids, codes, sizes, timings.
  const finished = logs.lines().find((l) => l.msg === 'query finished');
  assert.ok(finished);
  assert.equal(finished.integratorId, 'acme');
  assert.equal(typeof finished.queryId, 'string');
  // bytes: the answer's JSON array of row objects.
  assert.deepEqual([finished.rowCount, finished.bytes, finished.queuedMs, finished.executionMs], [1, 23, 1, 2]);
  assert.ok(logs.lines().some((l) => l.code === 'query_failed'));
});
