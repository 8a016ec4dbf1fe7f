// Async queries end to end: HTTP -> facade -> KV + work queue -> worker -> agent (chunks) -> result pages -> HTTP.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { jetstreamManager } from '@nats-io/jetstream';
import { ASYNC_NAMES, PROTOCOL_LIMITS } from '@halo/contracts';
import { connectNats } from '@halo/messaging';
import { resultRows } from '../support/halo-result.ts';
import { OTHER_KEY, eventually, startAsyncTestSystem, type AsyncTestSystem } from '../support/async-system.ts';

type Json = Record<string, any>;

const ROWS = 15_000;
/** About 3.3 MB of row objects: four pages. */
const BIG = `WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < ${ROWS}) SELECT x AS id, printf('%0200d', x) AS pad FROM n`;
/** Runs until cancelled (no rows, ever). */
const ENDLESS = 'WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 10000000000) SELECT count(*) AS c FROM n';

async function json(res: Response): Promise<Json> {
  return (await res.json()) as Json;
}

async function submit(sys: AsyncTestSystem, siteId: string, body: Json, key?: string): Promise<string> {
  const res = await sys.call(`/integrator/sites/${siteId}/queries/async`, { method: 'POST', body: JSON.stringify(body), ...(key ? { key } : {}) });
  const answer = await json(res);
  assert.equal(res.status, 201, JSON.stringify(answer));
  assert.equal(answer.siteId, siteId);
  assert.equal(answer.mode, 'async');
  assert.ok(['initialising', 'queued'].includes(answer.status));
  assert.ok(answer.statusTiming.initialising.startTime);
  return answer.id as string;
}

async function status(sys: AsyncTestSystem, siteId: string, id: string, key?: string): Promise<Response> {
  return sys.call(`/integrator/sites/${siteId}/queries/${id}`, key ? { key } : {});
}

async function waitForState(sys: AsyncTestSystem, siteId: string, id: string, states: string[], timeoutMs = 30_000): Promise<Json> {
  return eventually(async () => {
    const body = await json(await status(sys, siteId, id));
    return states.includes(body.status) ? body : undefined;
  }, timeoutMs, 100);
}

async function workStreamMessages(sys: AsyncTestSystem): Promise<number> {
  const nc = await connectNats({ servers: sys.hub.clientUrl, name: 'probe', log: sys.log });
  try {
    const info = await (await jetstreamManager(nc)).streams.info(ASYNC_NAMES.workStream);
    return info.state.messages;
  } finally {
    await nc.close();
  }
}

test('async queries: pages, headers, streaming, batch status, ownership, cancel', async (t) => {
  const sys = await startAsyncTestSystem();
  t.after(() => sys.close());
  const agent = await sys.startAgent('link-1', [{ name: 'a', path: sys.sampleDatabase('practice-a', 'PMS-ASYNC-1') }]);
  const siteId = agent.sites[0]!.haloGuid;

  let bigId = '';
  await t.test('a result over 2 MB is stored in pages of about 1 MB, each with its row range', async () => {
    bigId = await submit(sys, siteId, { command: { text: BIG } });
    const done = await waitForState(sys, siteId, bigId, ['successful', 'executionFailed', 'uploadFailed']);
    assert.equal(done.status, 'successful', JSON.stringify(done.error));
    assert.equal(done.mode, 'async');
    assert.equal(done.result.rows, ROWS);
    assert.ok(done.result.pages.length >= 3, `pages: ${done.result.pages.length}`);
    for (const state of ['initialising', 'queued', 'executing', 'uploading']) {
      assert.ok(done.statusTiming[state].startTime, `timing of ${state}`);
      assert.ok(done.statusTiming[state].endTime, `end of ${state}`);
    }
    assert.equal(done.completedAt, done.statusTiming.uploading.endTime);
    assert.equal(done.resultSize, done.result.size);
    assert.equal(done.maxTimeInQueue, 3_600_000);
    assert.ok(done.metrics.sqlExecutionDuration >= 0);
    assert.ok(Date.parse(done.expiresAt) > Date.now());

    const rows: Json[] = [];
    for (let page = 1; page <= done.result.pages.length; page++) {
      const res = await sys.call(`/integrator/sites/${siteId}/queries/${bigId}/results/${page}`);
      assert.equal(res.status, 200);
      assert.match(res.headers.get('content-type') ?? '', /application\/json/);
      const text = await res.text();
      const json = Buffer.from((JSON.parse(text) as { data: string }).data, 'base64').toString('utf8');
      const body = JSON.parse(json) as Json[];
      const count = Number(res.headers.get('rows-count'));
      assert.equal(count, body.length);
      assert.equal(Number(res.headers.get('size')), Buffer.byteLength(json));
      assert.equal(Number(res.headers.get('rows-range-start')), rows.length);
      assert.equal(Number(res.headers.get('rows-range-end')), rows.length + count - 1);
      // The status lists the same page.
      assert.deepEqual(done.result.pages[page - 1], { pageNumber: page, status: 'cached', size: Buffer.byteLength(json), rows: { count, rangeStart: rows.length, rangeEnd: rows.length + count - 1 } });
      if (page < done.result.pages.length) {
        const bytes = Buffer.byteLength(json);
        // A page closes with the agent's chunk that takes it past 1 MiB (chunks are never re-cut: their rows are not parsed).
        assert.ok(bytes >= 1024 * 1024 && bytes < 1024 * 1024 + PROTOCOL_LIMITS.maxChunkBytes, `page ${page} is ${bytes} bytes`);
      }
      const streamed = await sys.call(`/integrator/sites/${siteId}/queries/${bigId}/results/${page}/stream`);
      assert.equal(streamed.status, 200);
      assert.equal(streamed.headers.get('rows-count'), String(count));
      assert.equal(streamed.headers.get('rows-range-start'), String(rows.length));
      assert.equal(await streamed.text(), text);
      rows.push(...body);
    }
    assert.equal(rows.length, ROWS);
    rows.forEach((row, i) => {
      assert.equal(row.id, i + 1);
      assert.equal(row.pad, String(i + 1).padStart(200, '0'));
    });

    const beyond = await sys.call(`/integrator/sites/${siteId}/queries/${bigId}/results/${done.result.pages.length + 1}`);
    assert.equal(beyond.status, 404);
    assert.equal((await sys.call(`/integrator/sites/${siteId}/queries/${bigId}/results/0`)).status, 400);
  });

  await t.test('a batch status answers {results} for {queryIds}: found with the query, or notFound', async () => {
    const small = await submit(sys, siteId, { command: { text: 'SELECT PatNum, LName FROM patient ORDER BY PatNum LIMIT 5' } });
    const scalar = await submit(sys, siteId, { command: { text: 'SELECT count(*) FROM patient', executionMode: 'scalar' } });
    await waitForState(sys, siteId, small, ['successful']);
    const scalarDone = await waitForState(sys, siteId, scalar, ['successful']);
    assert.equal(scalarDone.result.rows, 1);
    const scalarPage = await json(await sys.call(`/integrator/sites/${siteId}/queries/${scalar}/results/1`));
    assert.deepEqual(Object.values(resultRows(scalarPage)[0] ?? {}), [300]);
    const unknown = randomUUID();
    const res = await sys.call(`/integrator/sites/${siteId}/queries/status`, { method: 'POST', body: JSON.stringify({ queryIds: [small, bigId, unknown, 'not-a-guid', small] }) });
    assert.equal(res.status, 200);
    const body = await json(res);
    assert.deepEqual(body.results.map((r: Json) => [r.queryId, r.status, r.query?.status]), [
      [small, 'found', 'successful'], [bigId, 'found', 'successful'], [unknown, 'notFound', undefined], ['not-a-guid', 'notFound', undefined],
    ]);
    const pageBody = await json(await sys.call(`/integrator/sites/${siteId}/queries/${small}/results/1`));
    const page = resultRows(pageBody);
    assert.equal(page.length, 5);
    assert.deepEqual(Object.keys(page[0] ?? {}), ['PatNum', 'LName']);
  });

  await t.test("another integrator's key sees none of it (404, never 403)", async () => {
    assert.equal((await status(sys, siteId, bigId, OTHER_KEY)).status, 404);
    assert.equal((await sys.call(`/integrator/sites/${siteId}/queries/${bigId}/results/1`, { key: OTHER_KEY })).status, 404);
    assert.equal((await sys.call(`/integrator/sites/${siteId}/queries/${bigId}/results/1/stream`, { key: OTHER_KEY })).status, 404);
    assert.equal((await sys.call(`/integrator/sites/${siteId}/queries/${bigId}`, { method: 'DELETE', key: OTHER_KEY })).status, 404);
    const batch = await json(await sys.call(`/integrator/sites/${siteId}/queries/status`, { method: 'POST', body: JSON.stringify({ queryIds: [bigId] }), key: OTHER_KEY }));
    assert.deepEqual(batch, { results: [{ queryId: bigId, status: 'notFound' }] });
    // Under another site id it does not exist either.
    assert.equal((await status(sys, randomUUID(), bigId)).status, 404);
    assert.equal((await sys.call(`/integrator/sites/${siteId}/queries/${bigId}`, { key: null })).status, 401);
    // The finished query cannot be cancelled by its owner either.
    const finished = await sys.call(`/integrator/sites/${siteId}/queries/${bigId}`, { method: 'DELETE' });
    assert.equal(finished.status, 409);
    assert.equal((await json(finished)).error.code, 'query_finished');
  });

  await t.test('submission checks: unknown site 404, bad body 400, queue time up to 2 h in milliseconds', async () => {
    const unknown = await sys.call(`/integrator/sites/${randomUUID()}/queries/async`, { method: 'POST', body: JSON.stringify({ command: { text: 'SELECT 1' } }) });
    assert.equal(unknown.status, 404);
    assert.equal((await json(unknown)).error.code, 'site_not_found');
    const tooLong = await sys.call(`/integrator/sites/${siteId}/queries/async`, { method: 'POST', body: JSON.stringify({ maxTimeInQueue: 7_200_001, command: { text: 'SELECT 1' } }) });
    assert.equal(tooLong.status, 400);
    const ok = await submit(sys, siteId, { maxTimeInQueue: 7_200_000, command: { text: 'SELECT 1 AS one' } });
    await waitForState(sys, siteId, ok, ['successful']);
  });

  await t.test('DELETE of a running query stops it at the agent', async () => {
    const id = await submit(sys, siteId, { command: { text: ENDLESS } });
    await waitForState(sys, siteId, id, ['executing']);
    const res = await sys.call(`/integrator/sites/${siteId}/queries/${id}`, { method: 'DELETE' });
    assert.equal(res.status, 200);
    assert.equal((await json(res)).status, 'cancelled');
    await eventually(async () => (await agent.activeQueries()) === 0, 10_000);
    await eventually(async () => (await workStreamMessages(sys)) === 0, 10_000);
    const after = await json(await status(sys, siteId, id));
    assert.equal(after.status, 'cancelled');
    assert.ok(after.statusTiming.executing.endTime);
    assert.equal(after.completedAt, after.statusTiming.executing.endTime);
    assert.equal((await sys.call(`/integrator/sites/${siteId}/queries/${id}/results/1`)).status, 409);
  });

  await t.test('DELETE of a queued query: it never runs', async () => {
    await agent.close();
    const id = await submit(sys, siteId, { command: { text: 'SELECT 1 AS one' } });
    const queued = await waitForState(sys, siteId, id, ['queued']);
    assert.equal(queued.status, 'queued');
    const res = await sys.call(`/integrator/sites/${siteId}/queries/${id}`, { method: 'DELETE' });
    assert.equal(res.status, 200);
    const again = await sys.startAgent('link-1', [{ name: 'a', path: `${sys.dir}/practice-a.db` }]);
    assert.equal(again.sites[0]!.haloGuid, siteId);
    await eventually(async () => (await workStreamMessages(sys)) === 0, 10_000);
    assert.equal(again.served?.() ?? 0, 0);
    assert.equal((await json(await status(sys, siteId, id))).status, 'cancelled');
  });
});

test('async results expire: 410 for status, pages and batch after the TTL', async (t) => {
  const sys = await startAsyncTestSystem({ resultTtlMs: 2_000 });
  t.after(() => sys.close());
  const agent = await sys.startAgent('link-1', [{ name: 'a', path: sys.sampleDatabase('practice-a', 'PMS-ASYNC-2') }]);
  const siteId = agent.sites[0]!.haloGuid;
  const id = await submit(sys, siteId, { command: { text: 'SELECT PatNum FROM patient ORDER BY PatNum LIMIT 3' } });
  const done = await waitForState(sys, siteId, id, ['successful']);
  assert.equal((await sys.call(`/integrator/sites/${siteId}/queries/${id}/results/1`)).status, 200);
  const wait = Date.parse(done.expiresAt) - Date.now();
  if (wait > 0) await new Promise((r) => setTimeout(r, wait + 50));
  const gone = await status(sys, siteId, id);
  assert.equal(gone.status, 410);
  assert.equal((await json(gone)).error.code, 'gone');
  assert.equal((await sys.call(`/integrator/sites/${siteId}/queries/${id}/results/1`)).status, 410);
  assert.equal((await sys.call(`/integrator/sites/${siteId}/queries/${id}/results/1/stream`)).status, 410);
  const batch = await json(await sys.call(`/integrator/sites/${siteId}/queries/status`, { method: 'POST', body: JSON.stringify({ queryIds: [id] }) }));
  assert.deepEqual(batch, { results: [{ queryId: id, status: 'notFound' }] });
  // Another integrator still learns nothing, not even that it expired.
  assert.equal((await status(sys, siteId, id, OTHER_KEY)).status, 404);
});

test('async logs (worker, facade, agent, at trace level) never carry query text, parameter values or rows', async (t) => {
  const lines: string[] = [];
  const sys = await startAsyncTestSystem({ logLevel: 'trace', logDestination: { write: (line) => void lines.push(line) } });
  t.after(() => sys.close());
  const agent = await sys.startAgent('link-1', [{ name: 'a', path: sys.sampleDatabase('practice-a', 'PMS-ASYNC-3') }]);
  const siteId = agent.sites[0]!.haloGuid;
  const id = await submit(sys, siteId, {
    command: { text: "SELECT 'SECRET_TEXT_MARKER' AS marker, @p AS echoed", parameters: [{ name: '@p', type: 'NVarChar', value: 'SECRET_PARAM_MARKER' }] },
  });
  await waitForState(sys, siteId, id, ['successful']);
  const page = await json(await sys.call(`/integrator/sites/${siteId}/queries/${id}/results/1`));
  assert.deepEqual(resultRows(page), [{ marker: 'SECRET_TEXT_MARKER', echoed: 'SECRET_PARAM_MARKER' }]);
  const failed = await submit(sys, siteId, { command: { text: 'SELECT SECRET_COLUMN_MARKER FROM nowhere' } });
  await waitForState(sys, siteId, failed, ['executionFailed']);
  assert.ok(lines.some((l) => l.includes('async query finished')), 'the worker logged');
  for (const marker of ['SECRET_TEXT_MARKER', 'SECRET_PARAM_MARKER', 'SECRET_COLUMN_MARKER']) {
    assert.equal(lines.filter((l) => l.includes(marker)).length, 0, `${marker} leaked into the logs`);
  }
});
