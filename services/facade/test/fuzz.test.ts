import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { InjectOptions } from 'fastify';
import { ASYNC_LIMITS, ErrorStatus, LIMITS, type AsyncQueryRecord } from '@halo/contracts';
import type { AsyncQueryStore } from '../src/index.ts';
import { AUTH, KEY, QUERY_URL, queryBody, SITE_ID, testApp } from './fakes.ts';

/** In every fuzzed value (never in field names): it must not come back in an answer or reach a log line. */
const MARK = 'FZMARKq7';
const RUNS = Number(process.env.HALO_FUZZ_RUNS ?? 4_000);
const ASYNC_URL = `/integrator/sites/${SITE_ID}/queries/async`;
const STATUS_URL = `/integrator/sites/${SITE_ID}/queries/status`;
const BODY_URLS = [QUERY_URL, `${QUERY_URL}?format=base64`, ASYNC_URL, STATUS_URL] as const;
const METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD'] as const;

/** Async queries kept in a Map, so the async routes are fuzzed too. */
class MemoryAsyncStore implements AsyncQueryStore {
  readonly records = new Map<string, AsyncQueryRecord>();
  async submit(record: AsyncQueryRecord): Promise<AsyncQueryRecord> {
    const queued = { ...record, state: 'queued' as const };
    this.records.set(record.id, queued);
    return queued;
  }
  async get(id: string) { return this.records.get(id) ?? null; }
  async remember(record: AsyncQueryRecord) { this.records.set(record.id, record); }
  async cancel(id: string) { return this.records.get(id) ?? null; }
  async page() { return null; }
}

const marked = fc.string({ maxLength: 40, unit: 'grapheme' }).map((s) => `${MARK}${s}`);
const markedAscii = fc.string({ maxLength: 40 }).map((s) => `${MARK}${s}`);
/** Field names are quoted back (cut to 64 characters) in 400 messages, so they carry no marker. */
const fieldName = fc.string({ minLength: 1, maxLength: 30 }).map((s) => `f${s}`);
/** Any JSON value that is not a string (wrong type wherever a string is expected). */
const notString = fc.oneof(fc.integer(), fc.double(), fc.boolean(), fc.constant(null), fc.array(marked, { maxLength: 3 }), fc.dictionary(fc.constantFrom('a', 'b'), marked));
const notNonString = fc.oneof(fc.integer(), fc.boolean(), fc.constant(null), fc.dictionary(fc.constantFrom('a', 'b'), marked));
const notNumber = fc.oneof(marked, fc.boolean(), fc.array(fc.integer(), { maxLength: 3 }), fc.dictionary(fc.constantFrom('a', 'b'), fc.integer()));

/** Percent-encoding oddities, unicode and separators in a path segment. */
const segment = fc.oneof(
  marked.map(encodeURIComponent),
  markedAscii,
  fc.constantFrom('%', '%Z', '%ZZ', '%C0%AF', '%00', '%2e%2e', '..', '.', '%2F', '%E2%82', '%uD800', '%FF%FE', ';', '~', '@', '*'),
  fc.nat({ max: 400 }).map((n) => `${MARK}${'a'.repeat(n)}`),
).map((s) => (s.includes(MARK) ? s : `${MARK}${s}`));

/** An otherwise valid immediate query body with exactly one thing wrong. */
const badBody = fc.oneof(
  notString.map((text) => queryBody({}, { text })),
  fc.constant(queryBody({}, { text: '' })),
  marked.map((v) => queryBody({}, { type: v })),
  marked.map((v) => queryBody({}, { executionMode: v })),
  fc.oneof(notString, marked).filter((p) => !Array.isArray(p)).map((parameters) => queryBody({}, { parameters })),
  notString.map((value) => queryBody({}, { parameters: [{ name: '@p', type: 'NVarChar', value }] })).filter((b) => JSON.stringify(b).includes('"value":null') === false),
  marked.map((type) => queryBody({}, { parameters: [{ name: '@p', type, value: 'x' }] })),
  marked.map((v) => queryBody({}, { parameters: [{ name: `@ ${v}`, type: 'Int', value: '1' }] })),
  marked.map((direction) => queryBody({}, { parameters: [{ name: '@p', type: 'Int', value: '1', direction }] })),
  notNumber.map((size) => queryBody({}, { parameters: [{ name: '@p', type: 'Int', value: '1', size }] })),
  fc.oneof(fc.integer({ max: -1 }), fc.integer({ min: ASYNC_LIMITS.maxTimeInQueueMs + 1 }), fc.double({ noInteger: true }), marked).map((maxTimeInQueue) => queryBody({ maxTimeInQueue })),
  fc.oneof(notString, fc.constant('')).map((catalogue) => queryBody({ catalogue })),
  marked.map((v) => queryBody({ unknownField: v })),
  marked.map((v) => queryBody({}, { unknownField: v })),
  notString.filter((c) => c !== null && typeof c !== 'object').map((command) => ({ command })),
  fc.constant({}),
  fc.oneof(notString, marked).map((v) => [v]),
);

/** A request with one thing malformed: body, types, headers, path, query string. Answers must be 4xx. */
const malformed: fc.Arbitrary<InjectOptions> = fc.oneof(
  // Not JSON at all, with a JSON content type.
  fc.tuple(fc.constantFrom(...BODY_URLS), fc.oneof(marked.map((s) => `{${s}`), marked.map((s) => `[${s}`), marked.map((s) => `"${s}`), fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.concat([Buffer.from(`{${MARK}`), b]))))
    .map(([url, payload]) => ({ method: 'POST', url, headers: { ...AUTH, 'content-type': 'application/json' }, payload })),
  // Valid JSON of the wrong shape.
  fc.tuple(fc.constantFrom(QUERY_URL, ASYNC_URL), badBody).map(([url, payload]) => ({ method: 'POST', url, headers: AUTH, payload: JSON.stringify(payload) as string, ...{} }))
    .map((o) => ({ ...o, headers: { ...o.headers, 'content-type': 'application/json' } })),
  fc.oneof(
    notString.filter((v) => !Array.isArray(v)),
    fc.constant([]),
    fc.tuple(marked, notNonString).map(([a, b]) => [a, b]),
    fc.nat({ max: 100 }).map((n) => [`${MARK}${'i'.repeat(64 + n)}`]),
    fc.array(marked, { minLength: ASYNC_LIMITS.maxStatusBatch + 1, maxLength: ASYNC_LIMITS.maxStatusBatch + 5 }),
  ).map((ids) => ({ method: 'POST', url: STATUS_URL, headers: { ...AUTH, 'content-type': 'application/json' }, payload: JSON.stringify({ queryIds: ids }) })),
  // Content types other than JSON, odd charsets, no content type.
  fc.tuple(fc.constantFrom(...BODY_URLS), fc.oneof(fc.constantFrom('text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/xml', 'application/jsonp', 'application/json-seq'), fc.tuple(fc.stringMatching(/^[a-z]{1,10}$/), markedAscii).map(([a, b]) => `${a}/${b.replace(/[^A-Za-z0-9]/g, '')}`)))
    .map(([url, type]) => ({ method: 'POST', url, headers: { ...AUTH, 'content-type': type }, payload: JSON.stringify(queryBody()) })),
  // Wrong, odd or huge subscription keys, with odd and huge other headers.
  fc.tuple(
    fc.oneof(marked, markedAscii.map((s) => s.replace(/[^\x21-\x7e]/g, '')), fc.nat({ max: 70_000 }).map((n) => `${MARK}${'k'.repeat(n)}`), fc.constant(`${KEY} `), fc.constant(KEY.slice(1))),
    fc.dictionary(fc.stringMatching(/^x-[a-z0-9-]{1,20}$/), fc.oneof(markedAscii.map((s) => s.replace(/[^\x20-\x7e]/g, '')), fc.nat({ max: 20_000 }).map((n) => `${MARK}${'h'.repeat(n)}`)), { maxKeys: 5 }),
    fc.constantFrom(QUERY_URL, ASYNC_URL, '/integrator/sites?practiceManagementSiteId=1', `/integrator/sites/${SITE_ID}/queries/x`),
    fc.constantFrom('GET', 'POST', 'DELETE'),
  ).map(([key, extra, url, method]) => ({ method, url, headers: { ...extra, 'ocp-apim-subscription-key': key, 'content-type': 'application/json', accept: `application/x-ndjson, ${MARK}/*` }, payload: JSON.stringify(queryBody()) })),
  // Odd paths and percent-encodings: unknown routes, bad site and query ids, bad pages.
  fc.tuple(fc.constantFrom(...METHODS), fc.array(segment, { minLength: 1, maxLength: 4 }), fc.constantFrom('/integrator/', '/integrator/sites/', '/', '/support/', '//', '/integrator//')).map(([method, segs, prefix]) => ({ method, url: `${prefix}${segs.join('/')}`, headers: AUTH })),
  fc.tuple(fc.constantFrom('GET', 'DELETE'), segment, segment).map(([method, site, id]) => ({ method, url: `/integrator/sites/${site}/queries/${id}`, headers: AUTH })),
  fc.tuple(segment, fc.oneof(segment, fc.constantFrom('0', '-1', '1.5', '1e3', '99999999999', 'NaN'))).map(([id, page]) => ({ method: 'GET', url: `/integrator/sites/${SITE_ID}/queries/${id}/results/${page}`, headers: AUTH })),
  fc.tuple(segment, fc.constantFrom('immediate', 'async', 'status')).map(([site, kind]) => ({ method: 'POST', url: `/integrator/sites/${site}/queries/${kind}`, headers: { ...AUTH, 'content-type': 'application/json' }, payload: JSON.stringify(kind === 'status' ? { ids: [] } : queryBody()) })),
  // Odd query strings: unknown keys, repeated keys, unknown PMS names, bad formats.
  fc.tuple(fc.array(fc.tuple(fc.oneof(fc.constantFrom('practiceManagementSiteId', 'practiceManagementName', 'format'), fieldName.map(encodeURIComponent)), marked.map(encodeURIComponent)), { maxLength: 4 }), fc.oneof(
    marked.map((v) => `practiceManagementSiteId=1&${encodeURIComponent(`unknown${v.length}`)}=${encodeURIComponent(v)}`),
    // A PMS name that is neither a known display name nor code-shaped (a space, or over 32 characters).
    marked.map((v) => `practiceManagementSiteId=1&practiceManagementName=${encodeURIComponent(`${v} x`)}`),
    marked.map((v) => `practiceManagementSiteId=${encodeURIComponent(v)}&practiceManagementSiteId=2`),
    fc.nat({ max: 300 }).map((n) => `practiceManagementSiteId=${MARK}${'9'.repeat(n + 130)}`),
    fc.constantFrom('', 'practiceManagementSiteId=', 'practiceManagementSiteId', '%', '%ZZ=1', 'practiceManagementName=%ZZ%', '&&&', '=1'),
  )).map(([pairs, bad]) => [bad.startsWith('practiceManagementSiteId=') && bad.length > 'practiceManagementSiteId='.length ? pairs : pairs.filter(([k]) => k !== 'practiceManagementSiteId'), bad] as const).map(([pairs, bad]) => ({ method: 'GET', url: `/integrator/sites?${[bad, ...pairs.map(([k, v]) => `${k}=${v}`)].join('&')}`, headers: AUTH })),
  marked.map((v) => ({ method: 'POST', url: `${QUERY_URL}?format=${encodeURIComponent(v)}`, headers: { ...AUTH, 'content-type': 'application/json' }, payload: JSON.stringify(queryBody()) })),
);

test(`${RUNS * 5} malformed requests (bodies, types, headers, paths, query strings) all answer 4xx in the error shape`, async (t) => {
  // Load shedding off: this is about malformed requests. On a busy CI machine this process once stalled past the
  // 1 s event-loop delay threshold, and one answer was 503 overloaded (health-drain.test.ts covers that answer).
  const { app, logs } = testApp({ asyncQueries: new MemoryAsyncStore() }, { loadShedding: { maxEventLoopDelayMs: 0 } });
  t.after(() => app.close());
  await app.ready();
  const seen = new Map<number, number>();
  const check = async (request: InjectOptions): Promise<boolean> => {
    const res = await app.inject(request);
    seen.set(res.statusCode, (seen.get(res.statusCode) ?? 0) + 1);
    const where = `${String(request.method)} ${String(request.url).slice(0, 200)} -> ${res.statusCode} ${res.body.slice(0, 300)}`;
    assert.ok(res.statusCode >= 400 && res.statusCode < 500, where);
    if (request.method === 'HEAD') return true;
    const body = res.json() as { error?: { status?: unknown; code?: unknown; message?: unknown } };
    assert.equal(Object.keys(body).join(), 'error', where);
    const { status, code, message } = body.error ?? {};
    assert.equal(status, res.statusCode, where);
    assert.equal(typeof message, 'string', where);
    assert.ok(typeof code === 'string' && ErrorStatus[code as keyof typeof ErrorStatus] === res.statusCode, where);
    assert.ok(!res.body.includes(MARK), `the answer quotes the request: ${where}`);
    assert.doesNotMatch(res.body, /node_modules|\s+at \S+ \(|\.ts:\d+|Error:|FST_ERR/, where);
    return true;
  };
  // Five properties of RUNS runs each, so every family gets its share of the runs.
  const families = [malformed, badBodyRequests(), headersOnly(), pathsOnly(), queryStrings()];
  for (const arb of families) await fc.assert(fc.asyncProperty(arb, check), { numRuns: RUNS });

  // Still up, still right: a valid request after all of that succeeds.
  assert.equal((await app.inject({ method: 'POST', url: QUERY_URL, headers: AUTH, payload: queryBody() })).statusCode, 200);
  assert.ok(!logs.text.includes(MARK), 'a fuzzed value reached a log line');
  assert.ok(!logs.lines().some((l) => typeof l.level === 'number' && l.level >= 50), 'nothing logged as an unexpected error');
  t.diagnostic(`statuses: ${JSON.stringify(Object.fromEntries([...seen].sort()))}`);
});

/** The body families alone (the richest source of 400s). */
function badBodyRequests(): fc.Arbitrary<InjectOptions> {
  return fc.tuple(fc.constantFrom(QUERY_URL, ASYNC_URL), badBody).map(([url, payload]) => ({ method: 'POST', url, headers: { ...AUTH, 'content-type': 'application/json' }, payload: JSON.stringify(payload) }));
}

function headersOnly(): fc.Arbitrary<InjectOptions> {
  return fc.tuple(
    fc.dictionary(fc.stringMatching(/^[a-z][a-z0-9-]{0,30}$/).filter((h) => !['content-length', 'transfer-encoding', 'host', 'content-type', 'ocp-apim-subscription-key', 'expect', 'connection'].includes(h)), markedAscii.map((s) => s.replace(/[^\x20-\x7e]/g, '')), { maxKeys: 8 }),
    fc.oneof(fc.constant(undefined), markedAscii.map((s) => s.replace(/[^\x21-\x7e]/g, '')), fc.nat({ max: 100_000 }).map((n) => `${MARK}${'z'.repeat(n)}`)),
  ).map(([headers, key]) => ({ method: 'GET', url: '/integrator/sites?practiceManagementSiteId=PRAC-1', headers: { ...headers, ...(key !== undefined ? { 'ocp-apim-subscription-key': key } : {}) } }));
}

function pathsOnly(): fc.Arbitrary<InjectOptions> {
  return fc.tuple(fc.constantFrom(...METHODS), fc.array(segment, { minLength: 1, maxLength: 6 })).map(([method, segs]) => ({ method, url: `/integrator/sites/${segs.join('/')}`, headers: AUTH }));
}

function queryStrings(): fc.Arbitrary<InjectOptions> {
  return fc.tuple(fc.constantFrom('/integrator/sites', QUERY_URL), fc.array(fc.tuple(fc.oneof(fieldName, fc.constantFrom('format', 'practiceManagementSiteId', 'practiceManagementName')), marked.map((v) => `${v} !`)), { minLength: 1, maxLength: 5 }))
    .filter(([path, pairs]) => path === QUERY_URL || pairs.length > 1 || pairs[0]?.[0] !== 'practiceManagementSiteId')
    .map(([path, pairs]) => ({
      method: path === QUERY_URL ? 'POST' : 'GET',
      url: `${path}?${pairs.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&')}`,
      headers: { ...AUTH, 'content-type': 'application/json' },
      ...(path === QUERY_URL ? { payload: JSON.stringify(queryBody()) } : {}),
    }));
}

test('abuse limits: body, SQL text, parameter count and parameter value length each answer in the error shape', async (t) => {
  const { app, queries } = testApp();
  t.after(() => app.close());
  const post = (payload: unknown) => app.inject({ method: 'POST', url: QUERY_URL, headers: { ...AUTH, 'content-type': 'application/json' }, payload: JSON.stringify(payload) });
  const cases: Array<[string, unknown, number, string, RegExp]> = [
    ['body over 1 MiB', queryBody({}, { text: 'SELECT 1', parameters: [{ name: '@p', type: 'NVarChar', value: 'v'.repeat(1024 * 1024) }] }), 413, 'payload_too_large', /too large/],
    ['SQL text over LIMITS.maxSqlLength', queryBody({}, { text: `SELECT '${'s'.repeat(LIMITS.maxSqlLength)}'` }), 400, 'bad_request', /command\.text: too big \(at most 100000\)/],
    ['more than LIMITS.maxParameters parameters', queryBody({}, { parameters: Array.from({ length: LIMITS.maxParameters + 1 }, (_, i) => ({ name: `@p${i}`, type: 'Int', value: '1' })) }), 400, 'bad_request', /command\.parameters: too big \(at most 2100\)/],
    ['a parameter value over LIMITS.maxParameterValueLength', queryBody({}, { parameters: [{ name: '@p', type: 'NVarChar', value: 'v'.repeat(LIMITS.maxParameterValueLength + 1) }] }), 400, 'bad_request', /command\.parameters\.0\.value: too big \(at most 1000000\)/],
    ['a parameter name over 128 characters', queryBody({}, { parameters: [{ name: `@${'n'.repeat(129)}`, type: 'Int', value: '1' }] }), 400, 'bad_request', /command\.parameters\.0\.name/],
  ];
  for (const [what, payload, status, code, message] of cases) {
    const res = await post(payload);
    assert.equal(res.statusCode, status, what);
    const { error } = res.json() as { error: { status: number; code: string; message: string } };
    assert.equal(error.status, status, what);
    assert.equal(error.code, code, what);
    assert.match(error.message, message, what);
  }
  // At the limits themselves, the query goes through.
  assert.equal((await post(queryBody({}, { text: 's'.repeat(LIMITS.maxSqlLength) }))).statusCode, 200);
  assert.equal((await post(queryBody({}, { parameters: Array.from({ length: LIMITS.maxParameters }, (_, i) => ({ name: `@p${i}`, type: 'Int', value: '1' })) }))).statusCode, 200);
  assert.equal(queries.calls.length, 2);
});
