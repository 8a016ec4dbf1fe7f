import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { AppError, PROTOCOL_LIMITS, RequestHeaders, subjects, type Cell } from '@halo/contracts';
import { headers, readRequestOptions, type Msg } from '@halo/messaging';
import { COLUMNS, launchStack, queryRequest, records, sendBatch, sendRows, sha256, startTestAgent } from './chunk-fixture.ts';

const timings = { queuedMs: 1, executionMs: 2 };

test('a multi-MB result arrives complete and in order, gzipped, and every routing entry is released', async (t) => {
  const stack = await launchStack(t);
  const agentHash = sha256();
  const total = 20_000;
  const agent = await startTestAgent(stack, async ({ sender }) => {
    await sender.meta(COLUMNS);
    await sendRows(sender, total, { hash: agentHash, batch: 200 });
    await sender.end({ timings });
  }, { compression: 'always' });

  const request = queryRequest(stack);
  const stream = stack.router.start({ linkGuid: stack.linkGuid }, request);
  assert.deepEqual(await stream.columns(), COLUMNS);
  const hash = sha256();
  let next = 0;
  let rawBytes = 0;
  let received = 0;
  for await (const batch of stream) {
    received += batch.bytes.byteLength;
    for (const record of records(batch)) {
      assert.equal(record.id, next++);
      const json = JSON.stringify(COLUMNS.map((c) => record[c.name]));
      rawBytes += json.length;
      hash.update(json);
    }
  }
  const summary = await stream.summary();
  assert.equal(next, total);
  assert.equal(summary.rowCount, total);
  assert.equal(hash.digest('hex'), agentHash.digest('hex'));
  assert.ok(rawBytes > 4_000_000, `only ${rawBytes} bytes`);
  // The agent counts the row text it sent (before gzip): exactly what arrived.
  assert.equal(summary.bytes, received);
  assert.deepEqual(summary.timings, timings);

  const rowsChunks = agent.sent.filter((c) => c.kind === 'rows');
  assert.ok(rowsChunks.length >= 30, `${rowsChunks.length} chunks`);
  assert.ok(rowsChunks.every((c) => c.gzip), 'compressible rows are gzipped');
  const wire = rowsChunks.reduce((n, c) => n + c.bytes, 0);
  t.diagnostic(`${summary.bytes} raw bytes in ${rowsChunks.length} chunks, ${wire} on the wire`);
  assert.ok(wire < summary.bytes / 3, `gzip saved too little: ${wire} of ${summary.bytes}`);
  assert.deepEqual(agent.sent.map((c) => c.seq), agent.sent.map((_, i) => i), 'seq is 0, 1, 2, ...');
  assert.deepEqual([agent.sent[0]?.kind, agent.sent.at(-1)?.kind], ['meta', 'end']);

  // Both routing entries are gone: the same query id may be opened / started again.
  stack.acks.open(request.queryId).close();
  const again = stack.router.start({ linkGuid: stack.linkGuid }, { ...request, deadline: Date.now() + 5_000 });
  again.cancel();
});

test('the sender never gets more than `window` chunks ahead of a slow consumer, and credits are batched', async (t) => {
  const stack = await launchStack(t);
  const window = 4;
  let consumed = 0;
  let maxOutstanding = 0;
  const agent = await startTestAgent(stack, async ({ sender }) => {
    await sender.meta(COLUMNS);
    await sendRows(sender, 2_000, { batch: 10 });
    await sender.end({ timings });
  }, {
    onChunk: (info) => {
      if (info.kind === 'rows') maxOutstanding = Math.max(maxOutstanding, info.seq - consumed);
    },
  });
  const request = queryRequest(stack);
  let credits = 0;
  const spy = stack.requesterNc.subscribe(subjects.ack(stack.linkGuid, request.queryId), { callback: () => { credits++; } });
  t.after(() => spy.unsubscribe());
  await stack.requesterNc.flush();

  const stream = stack.router.start({ linkGuid: stack.linkGuid }, request, { window, chunkBytes: 4096 });
  let rows = 0;
  for await (const batch of stream) {
    rows += batch.count;
    await sleep(5);
    consumed++;
  }
  assert.equal(rows, 2_000);
  const chunks = agent.sent.filter((c) => c.kind === 'rows').length;
  assert.ok(chunks > 60, `${chunks} chunks`);
  t.diagnostic(`${chunks} chunks, max outstanding ${maxOutstanding}, ${credits} acks`);
  assert.ok(maxOutstanding <= window, `sender got ${maxOutstanding} chunks ahead (window ${window})`);
  assert.ok(maxOutstanding >= window - 1, `sender never filled the window (max ${maxOutstanding})`);
  await stack.requesterNc.flush();
  assert.ok(credits <= Math.ceil(chunks / (window / 2)) + 1, `${credits} acks for ${chunks} chunks`);
});

test('a slow consumer next to a fast one on the same connection: the fast one finishes first, no slow-consumer status', async (t) => {
  const stack = await launchStack(t);
  const statuses: string[] = [];
  void (async () => {
    for await (const s of stack.requesterNc.status()) statuses.push(s.type);
  })();
  await startTestAgent(stack, async ({ sender }) => {
    await sender.meta(COLUMNS);
    await sendRows(sender, 8_000, { batch: 200 });
    await sender.end({ timings });
  });
  const started = Date.now();
  const consume = async (delayMs: number): Promise<{ rows: number; ms: number }> => {
    const stream = stack.router.start({ linkGuid: stack.linkGuid }, queryRequest(stack), { chunkBytes: 64 * 1024, window: 8 });
    let rows = 0;
    for await (const batch of stream) {
      rows += batch.count;
      if (delayMs) await sleep(delayMs);
    }
    return { rows, ms: Date.now() - started };
  };
  const [slow, fast] = await Promise.all([consume(100), consume(0)]);
  assert.equal(slow.rows, 8_000);
  assert.equal(fast.rows, 8_000);
  t.diagnostic(`fast ${fast.ms} ms, slow ${slow.ms} ms`);
  assert.ok(fast.ms * 2 < slow.ms, `fast ${fast.ms} ms, slow ${slow.ms} ms`);
  assert.deepEqual(statuses.filter((s) => s === 'slowConsumer' || s === 'disconnect' || s === 'error'), []);
});

test('a row larger than chunkBytes goes alone; one larger than max_payload fails with result_too_large', async (t) => {
  const stack = await launchStack(t);
  const big = (n: number): string => Array.from({ length: n }, (_, i) => String.fromCharCode(33 + ((i * 7919) % 90))).join('');
  const agent = await startTestAgent(stack, async ({ request, sender }) => {
    await sender.meta([{ name: 'blob', type: 'NVarChar' }]);
    const size = request.command.text === 'huge' ? 2 * 1024 * 1024 : 600 * 1024;
    // As a cursor batches them: a row too large for a batch with others travels in a batch of its own.
    for (const row of [['small'], [big(size)], ['after']]) await sendBatch(sender, [{ name: 'blob', type: 'NVarChar' }], [row]);
    await sender.end({ timings });
  });

  const ok = stack.router.start({ linkGuid: stack.linkGuid }, queryRequest(stack), { chunkBytes: 16 * 1024 });
  const got: Array<Array<Record<string, Cell>>> = [];
  for await (const batch of ok) got.push(records(batch));
  assert.deepEqual(got.map((b) => b.length), [1, 1, 1]);
  assert.equal((got[1]?.[0]?.blob as string).length, 600 * 1024);
  assert.ok(agent.sent.filter((c) => c.kind === 'rows').every((c) => c.bytes < 1024 * 1024));

  const huge = stack.router.start({ linkGuid: stack.linkGuid }, queryRequest(stack, {
    command: { text: 'huge', type: 'text', executionMode: 'reader', parameters: [] },
  }));
  await huge.columns();
  await assert.rejects(async () => {
    for await (const _ of huge) { /* drain */ }
  }, { code: 'result_too_large' });
});

test('request options are read from headers, clamped to the protocol limits, with defaults', () => {
  const msg = (values: Record<string, string>): Msg => {
    const h = headers();
    for (const [k, v] of Object.entries(values)) h.set(k, v);
    return { headers: h } as unknown as Msg;
  };
  // No keep-alive header (an older requester): no keep-alives, which it would take for protocol errors.
  // No row format either: cells, as such a requester reads them.
  assert.deepEqual(readRequestOptions(msg({})), { chunkBytes: PROTOCOL_LIMITS.defaultChunkBytes, window: PROTOCOL_LIMITS.defaultWindow, keepAliveMs: undefined, rowFormat: undefined });
  assert.deepEqual(readRequestOptions(msg({ [RequestHeaders.chunkBytes]: '99999999', [RequestHeaders.window]: '1000', [RequestHeaders.keepAliveMs]: '2500', [RequestHeaders.rowFormat]: 'ndjson' })), {
    chunkBytes: PROTOCOL_LIMITS.maxChunkBytes, window: PROTOCOL_LIMITS.maxWindow, keepAliveMs: 2500, rowFormat: 'ndjson',
  });
  assert.deepEqual(readRequestOptions(msg({ [RequestHeaders.chunkBytes]: 'x', [RequestHeaders.window]: '0', [RequestHeaders.keepAliveMs]: '1', [RequestHeaders.rowFormat]: 'json' })), {
    chunkBytes: PROTOCOL_LIMITS.defaultChunkBytes, window: 1, keepAliveMs: PROTOCOL_LIMITS.minKeepAliveMs, rowFormat: 'json',
  });
  assert.throws(() => readRequestOptions(msg({ [RequestHeaders.rowFormat]: 'xml' })), (err: unknown) => err instanceof AppError && err.code === 'bad_request');
  assert.equal(readRequestOptions(msg({ [RequestHeaders.keepAliveMs]: 'x' })).keepAliveMs, undefined);
});

test('a small encoded result travels as one whole message; a cells agent still sends meta, rows and end', async (t) => {
  const stack = await launchStack(t);
  const encodedAgent = await startTestAgent(stack, async ({ request, sender }) => {
    await sender.meta(COLUMNS);
    if (request.command.text !== 'empty') await sendRows(sender, 3);
    await sender.end({ timings, affected: 0 });
  });
  for (const [text, rowFormat, rows] of [['three', 'json', 3], ['empty', 'json', 0], ['three', 'ndjson', 3]] as const) {
    const before = encodedAgent.sent.length;
    const stream = stack.router.start({ linkGuid: stack.linkGuid }, queryRequest(stack, { command: { text, type: 'text', executionMode: 'reader', parameters: [] } }), { rowFormat });
    assert.deepEqual(await stream.columns(), COLUMNS);
    let count = 0;
    let body = '';
    for await (const chunk of stream) {
      count += chunk.count;
      body += Buffer.from(chunk.bytes).toString('utf8');
    }
    const summary = await stream.summary();
    assert.equal(count, rows);
    assert.equal(summary.rowCount, rows);
    assert.equal(summary.bytes, Buffer.byteLength(body));
    assert.deepEqual(summary.timings, timings);
    if (rowFormat === 'ndjson') assert.equal(body.split('\n').length - 1, rows);
    assert.deepEqual(encodedAgent.sent.slice(before).map((c) => c.kind), ['whole'], `${text} ${rowFormat}`);
  }

  const older = await launchStack(t);
  const cellsAgent = await startTestAgent(older, async ({ sender }) => {
    await sender.meta(COLUMNS);
    await sendRows(sender, 3);
    await sender.end({ timings });
  }, { cells: true });
  const stream = older.router.start({ linkGuid: older.linkGuid }, queryRequest(older));
  let count = 0;
  for await (const chunk of stream) count += chunk.count;
  assert.equal(count, 3);
  assert.deepEqual(cellsAgent.sent.map((c) => c.kind), ['meta', 'rows', 'end']);
});
