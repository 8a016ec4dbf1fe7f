// ARCHITECTURE §7: no query text, parameters or row data in any log, metric or heartbeat. The whole system runs
// in-process (registry, facade, worker, real agent) with every logger at debug level writing to memory; queries
// carry unique markers in their SQL text, parameter values and rows; afterwards no log line, heartbeat, registry
// message or KV record may contain any of them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Kvm } from '@nats-io/kv';
import { ASYNC_NAMES } from '@halo/contracts';
import { connectNats } from '@halo/messaging';
import { eventually, startAsyncTestSystem } from '../support/async-system.ts';
import { resultRows } from '../support/halo-result.ts';

type Json = Record<string, any>;

const tag = randomBytes(4).toString('hex');
const SQL = `SQLMARK${tag}`;
const PARAM = `PARAMMARK${tag}`;
const ROW = `ROWMARK${tag}`;
const FAIL = `FAILMARK${tag}`;
const MARKERS = [SQL, PARAM, ROW, FAIL];

/** Every marker in one query: SQL text (a predicate), a parameter value and a row value. */
const MARKED = {
  command: {
    text: `SELECT PatNum AS id, '${ROW}' AS r, @p AS p FROM patient WHERE '${SQL}' = '${SQL}' ORDER BY PatNum LIMIT 5`,
    parameters: [{ name: '@p', type: 'NVarChar', value: PARAM }],
  },
};
/** Fails at the database, with markers in the text the error message will quote. */
const FAILING = { command: { text: `SELECT ${FAIL} FROM missing_${SQL}`, parameters: [{ name: '@p', type: 'NVarChar', value: PARAM }] } };

/**
 * An async query's record holds the answer owed to its integrator: on failure, the database's message (which may
 * quote the SQL), read back with GET .../queries/{id} until the record expires, like the result pages. That one
 * field is query output, not a log or metric; everything else in the record is checked.
 */
function withoutAnswer(bucket: string, text: string): string {
  if (bucket !== ASYNC_NAMES.queries) return text;
  const record = JSON.parse(text) as Json;
  if (record.error) record.error = { ...record.error, message: '(answer to the integrator)' };
  return JSON.stringify(record);
}

class Lines {
  readonly lines: string[] = [];
  write(line: string): void {
    this.lines.push(line);
  }
}

test('no query text, parameter or row value reaches a log line, heartbeat, registry message or KV record', async (t) => {
  const logs = new Lines();
  const sys = await startAsyncTestSystem({ logLevel: 'debug', logDestination: logs });
  t.after(() => sys.close());

  // Everything agents and services publish besides query traffic: heartbeats and registry verbs.
  const watcher = await connectNats({ servers: sys.hub.clientUrl, name: 'no-data-watcher', log: sys.log });
  t.after(() => watcher.close());
  const published: string[] = [];
  for (const subject of ['halo.v1.hb.>', 'halo.v1.registry.>']) {
    watcher.subscribe(subject, { callback: (_err, msg) => { published.push(`${msg.subject} ${msg.string()}`); } });
  }
  await watcher.flush();

  const agent = await sys.startAgent('link-no-data', [{ name: 'a', path: sys.sampleDatabase('no-data', 'PMS-NODATA-1') }]);
  const siteId = agent.sites[0]!.haloGuid;
  const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
    sys.call(`/integrator/sites/${siteId}/queries/${path}`, { method: 'POST', body: JSON.stringify(body), headers });

  // Immediate, JSON and base64.
  const immediate = await eventually(async () => {
    const res = await post('immediate', MARKED);
    if (res.status !== 200) throw new Error(`immediate: ${res.status} ${await res.text()}`);
    return (await res.json()) as Json;
  });
  assert.equal(immediate.result.rows, 5);
  assert.equal(resultRows(immediate)[0]?.r, ROW, 'the markers did travel through the system');
  assert.equal(resultRows(immediate)[0]?.p, PARAM);
  assert.equal((await post('immediate?format=records', MARKED)).status, 200);

  // Immediate, NDJSON stream.
  const ndjson = await post('immediate', MARKED, { accept: 'application/x-ndjson' });
  assert.equal(ndjson.status, 200);
  assert.ok((await ndjson.text()).includes(ROW));

  // Failing immediate query: the database error quotes the SQL; it goes to the caller, never to a log.
  const failed = await post('immediate', FAILING);
  assert.equal(failed.status, 400);
  assert.equal(((await failed.json()) as Json).error.code, 'query_failed');

  // Async: one that succeeds (read back whole and streamed) and one that fails.
  const submit = async (body: unknown): Promise<string> => {
    const res = await post('async', body);
    assert.equal(res.status, 201);
    return ((await res.json()) as Json).id as string;
  };
  const settle = (id: string) => eventually(async () => {
    const body = (await (await sys.call(`/integrator/sites/${siteId}/queries/${id}`)).json()) as Json;
    return ['successful', 'initialisationFailedCacheError', 'initialisationFailedSiteOffline', 'initialisationFailedSiteUnreachable', 'expiredInQueue', 'executionFailed', 'uploadFailed', 'cancelled'].includes(body.status) ? body : undefined;
  }, 30_000);
  const okId = await submit(MARKED);
  const failId = await submit(FAILING);
  assert.equal((await settle(okId)).status, 'successful');
  const failure = await settle(failId);
  assert.equal(failure.status, 'executionFailed');
  const page = await sys.call(`/integrator/sites/${siteId}/queries/${okId}/results/1`);
  assert.equal(resultRows(await page.json())[0]?.r, ROW);
  assert.equal(resultRows(await (await sys.call(`/integrator/sites/${siteId}/queries/${okId}/results/1/stream`)).json())[0]?.p, PARAM);

  // Let at least one heartbeat go out after the queries, then read every KV record.
  const heartbeats = () => published.filter((p) => p.startsWith('halo.v1.hb.')).length;
  const before = heartbeats();
  await eventually(async () => heartbeats() > before, 10_000);
  const kvRecords: string[] = [];
  const kvm = new Kvm(watcher);
  for await (const status of kvm.list()) {
    const kv = await kvm.open(status.bucket);
    for await (const key of await kv.keys()) {
      const entry = await kv.get(key);
      if (entry) kvRecords.push(`${status.bucket}/${key} ${withoutAnswer(status.bucket, entry.string())}`);
    }
  }

  // Enough lines for the check below to mean something (one per query and service at least; a query's facade
  // facts are in its request line); that each service logged is checked by name after it.
  assert.ok(logs.lines.length >= 40, `the services logged at debug level (${logs.lines.length} lines)`);
  assert.ok(logs.lines.some((l) => l.includes('"level":20')), 'debug lines were written');
  for (const who of ['"agent":"link-no-data"', '"worker":true', '"integratorId":"test"']) assert.ok(logs.lines.some((l) => l.includes(who)), `no line from ${who}`);
  assert.ok(heartbeats() > 0 && kvRecords.length > 0);
  for (const [where, texts] of [['log lines', logs.lines], ['heartbeats and registry messages', published], ['KV records', kvRecords]] as const) {
    for (const marker of MARKERS) {
      const hit = texts.find((text) => text.includes(marker));
      assert.equal(hit, undefined, `${where} contain ${marker}: ${hit?.slice(0, 500)}`);
    }
  }
  t.diagnostic(`${logs.lines.length} log lines, ${published.length} heartbeats/registry messages, ${kvRecords.length} KV records checked`);
});
