import { STATUS_CODES } from 'node:http';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AppError } from '@halo/contracts';
import { AUTH, QUERY_URL, SITE_ID, queryBody, siteView, testApp } from './fakes.ts';

type Json = { error: { status: number; statusText: string; code: string; message: string } };

function assertError(res: { statusCode: number; json(): unknown; headers: Record<string, unknown> }, status: number, code: string): string {
  assert.equal(res.statusCode, status);
  assert.match(String(res.headers['content-type']), /^application\/json/);
  const body = res.json() as Json;
  assert.deepEqual(Object.keys(body), ['error']);
  assert.equal(body.error.status, status);
  assert.equal(body.error.statusText, STATUS_CODES[status]);
  assert.equal(body.error.code, code);
  assert.equal(typeof body.error.message, 'string');
  return body.error.message;
}

test('401 unauthorized without a key, with a wrong key, and before body checks or 404s', async (t) => {
  const { app, queries } = testApp();
  t.after(() => app.close());
  assertError(await app.inject({ url: '/integrator/sites?practiceManagementSiteId=1' }), 401, 'unauthorized');
  assertError(await app.inject({ url: '/integrator/sites?practiceManagementSiteId=1', headers: { 'ocp-apim-subscription-key': 'nope' } }), 401, 'unauthorized');
  assertError(await app.inject({ url: '/integrator/sites?practiceManagementSiteId=1', headers: { 'ocp-apim-subscription-key': '' } }), 401, 'unauthorized');
  assertError(await app.inject({ method: 'POST', url: QUERY_URL, payload: '{not json', headers: { 'content-type': 'application/json' } }), 401, 'unauthorized');
  assertError(await app.inject({ url: '/integrator/no-such-thing' }), 401, 'unauthorized');
  assert.equal(queries.calls.length, 0);
});

test('400 bad_request for malformed, empty and wrongly typed bodies', async (t) => {
  const { app, queries } = testApp();
  t.after(() => app.close());
  const post = (payload: string | undefined, contentType = 'application/json') =>
    app.inject({ method: 'POST', url: QUERY_URL, headers: { ...AUTH, ...(payload !== undefined ? { 'content-type': contentType } : {}) }, ...(payload !== undefined ? { payload } : {}) });

  assert.equal(assertError(await post('{"command": {"text": "SELECT 1"'), 400, 'bad_request'), 'request body is not valid JSON');
  assertError(await post(''), 400, 'bad_request');
  assert.match(assertError(await post(undefined), 400, 'bad_request'), /invalid body: \(root\): expected object/);
  assert.match(assertError(await post('[]'), 400, 'bad_request'), /expected object/);
  assert.match(assertError(await post('{}'), 400, 'bad_request'), /command: expected object/);
  assert.match(assertError(await post(JSON.stringify(queryBody({}, { text: '' }))), 400, 'bad_request'), /command\.text: too small/);
  assert.match(assertError(await post(JSON.stringify(queryBody({}, { text: 42 }))), 400, 'bad_request'), /command\.text: expected string/);
  assert.match(assertError(await post(JSON.stringify(queryBody({ maxTimeInQueue: 60_001 }))), 400, 'bad_request'), /maxTimeInQueue: too big \(at most 60000\)/);
  assert.match(assertError(await post(JSON.stringify(queryBody({}, { executionMode: 'fetch' }))), 400, 'bad_request'), /command\.executionMode: expected one of "reader", "scalar", "nonQuery"/);
  assertError(await post('SELECT 1', 'text/plain'), 400, 'bad_request');
  assertError(await post('<x/>', 'application/xml'), 400, 'bad_request');
  assert.equal(queries.calls.length, 0);
});

test('400 names unknown fields and bad parameter types by path, never echoing values', async (t) => {
  const { app } = testApp();
  t.after(() => app.close());
  const body = queryBody({ priority: 'SECRET-EXTRA' }, {
    sneaky: true,
    parameters: [
      { name: '@a', type: 'Int', value: '1' },
      { name: '@b', type: 'Integer', value: 'SECRET-VALUE' },
      { name: 'bad name', type: 'Int', value: '3' },
    ],
  });
  const res = await app.inject({ method: 'POST', url: QUERY_URL, headers: AUTH, payload: body });
  const message = assertError(res, 400, 'bad_request');
  assert.match(message, /(^|; |: )priority: unknown field/);
  assert.match(message, /command\.sneaky: unknown field/);
  assert.match(message, /command\.parameters\.1\.type: expected one of .*"NVarChar"/);
  assert.match(message, /command\.parameters\.2\.name: must be a parameter name/);
  assert.doesNotMatch(message, /SECRET|Integer|bad name/);
});

test('400 for bad query strings: missing id, unknown parameters, unknown PMS names, unknown format', async (t) => {
  const { app, directory } = testApp();
  t.after(() => app.close());
  assert.match(assertError(await app.inject({ url: '/integrator/sites', headers: AUTH }), 400, 'bad_request'), /invalid query string: practiceManagementSiteId: expected string/);
  assert.match(assertError(await app.inject({ url: '/integrator/sites?practiceManagementSiteId=1&x=2', headers: AUTH }), 400, 'bad_request'), /x: unknown field/);
  assertError(await app.inject({ url: '/integrator/sites?practiceManagementSiteId=1&practiceManagementSiteId=2', headers: AUTH }), 400, 'bad_request');
  assert.match(
    assertError(await app.inject({ url: '/integrator/sites?practiceManagementSiteId=1&practiceManagementName=Not%20A%20PMS', headers: AUTH }), 400, 'bad_request'),
    /practiceManagementName/,
  );
  assert.equal(directory.lookups.length, 0);
  assert.match(assertError(await app.inject({ method: 'POST', url: `${QUERY_URL}?format=xml`, headers: AUTH, payload: queryBody() }), 400, 'bad_request'), /format: expected one of/);
});

test('403 site_not_authoritative for a non-authoritative site', async (t) => {
  const { app, directory, queries } = testApp();
  t.after(() => app.close());
  directory.sites = [siteView({ authoritative: false })];
  assertError(await app.inject({ method: 'POST', url: QUERY_URL, headers: AUTH, payload: queryBody() }), 403, 'site_not_authoritative');
  assert.equal(queries.calls.length, 0);
});

test('404 site_not_found for malformed, unknown, removed and uninstalled sites', async (t) => {
  const { app, directory, queries } = testApp();
  t.after(() => app.close());
  const post = (siteId: string) => app.inject({ method: 'POST', url: `/integrator/sites/${siteId}/queries/immediate`, headers: AUTH, payload: queryBody() });
  assertError(await post('not-a-guid'), 404, 'site_not_found');
  const lettered = 'aaaaaaaa-1111-4111-8111-111111111111';
  directory.sites = [siteView(), siteView({ haloGuid: lettered })];
  assertError(await post(lettered.toUpperCase()), 404, 'site_not_found');
  assertError(await post('33333333-3333-4333-8333-333333333333'), 404, 'site_not_found');
  for (const status of ['removed', 'uninstalled'] as const) {
    directory.sites = [siteView({ status })];
    assertError(await post(SITE_ID), 404, 'site_not_found');
  }
  assert.equal(queries.calls.length, 0);
});

test('404 not_found for unknown routes and wrong methods, inside and outside /integrator', async (t) => {
  const { app } = testApp();
  t.after(() => app.close());
  assertError(await app.inject({ url: '/nope' }), 404, 'not_found');
  assertError(await app.inject({ url: '/integrator/nope', headers: AUTH }), 404, 'not_found');
  assertError(await app.inject({ method: 'DELETE', url: '/health' }), 404, 'not_found');
  assertError(await app.inject({ method: 'GET', url: QUERY_URL, headers: AUTH }), 404, 'not_found');
  assertError(await app.inject({ method: 'PUT', url: '/integrator/sites', headers: AUTH }), 404, 'not_found');
});

test('413 payload_too_large for bodies over 1 MiB', async (t) => {
  const { app, queries } = testApp();
  t.after(() => app.close());
  const payload = JSON.stringify(queryBody({}, { text: `SELECT '${'x'.repeat(1024 * 1024)}'` }));
  assertError(await app.inject({ method: 'POST', url: QUERY_URL, headers: { ...AUTH, 'content-type': 'application/json' }, payload }), 413, 'payload_too_large');
  assert.equal(queries.calls.length, 0);
});

test('503 and 504 from the directory and the query client keep their codes and messages', async (t) => {
  const { app, directory, queries } = testApp();
  t.after(() => app.close());
  directory.fail = new AppError('registry_unavailable', 'registry did not answer in time');
  assert.equal(assertError(await app.inject({ url: '/integrator/sites?practiceManagementSiteId=PRAC-1', headers: AUTH }), 503, 'registry_unavailable'), 'registry did not answer in time');
  assertError(await app.inject({ method: 'POST', url: QUERY_URL, headers: AUTH, payload: queryBody() }), 503, 'registry_unavailable');
  directory.fail = null;

  // query_failed answers the query object (app-queries.test.ts) with the same `error` inside.
  for (const [code, status] of [['site_offline', 503], ['agent_busy', 503], ['deadline_exceeded', 504], ['result_too_large', 413]] as const) {
    queries.respond = async () => {
      throw new AppError(code, `the ${code} message`);
    };
    assert.equal(assertError(await app.inject({ method: 'POST', url: QUERY_URL, headers: AUTH, payload: queryBody() }), status, code), `the ${code} message`);
  }
});

test('500 internal hides the details of unexpected errors', async (t) => {
  const { app, directory, queries, logs } = testApp();
  t.after(() => app.close());
  queries.respond = async () => {
    throw new TypeError('kaboom: internal detail');
  };
  const message = assertError(await app.inject({ method: 'POST', url: QUERY_URL, headers: AUTH, payload: queryBody() }), 500, 'internal');
  assert.doesNotMatch(message, /kaboom/);
  directory.fail = new Error('directory exploded');
  assert.doesNotMatch(assertError(await app.inject({ url: '/integrator/sites?practiceManagementSiteId=1', headers: AUTH }), 500, 'internal'), /exploded/);
  // The details are in the log for whoever fixes it.
  assert.match(logs.text, /kaboom: internal detail/);
});
