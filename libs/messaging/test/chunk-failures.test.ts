import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { AppError, ChunkHeaders, subjects, type ChunkKind } from '@halo/contracts';
import { encodeJson, headers, type ChunkSender, type ResultStream } from '@halo/messaging';
import { COLUMNS, aborted, launchStack, makeRow, queryRequest, sendBatch, sendRows, startTestAgent } from './chunk-fixture.ts';

const timings = { queuedMs: 0, executionMs: 1 };

/** Rows forever, as a huge table would produce: only credit (and the signal) hold it back. */
async function endless(sender: ChunkSender): Promise<void> {
  await sender.meta(COLUMNS);
  for (let i = 0; ; i += 100) await sendBatch(sender, COLUMNS, Array.from({ length: 100 }, (_, j) => makeRow(i + j)));
}

async function drain(stream: ResultStream): Promise<number> {
  let rows = 0;
  for await (const batch of stream) rows += batch.count;
  return rows;
}

function chunkHeaders(kind: ChunkKind, seq: number) {
  const h = headers();
  h.set(ChunkHeaders.kind, kind);
  h.set(ChunkHeaders.seq, String(seq));
  return h;
}

test('cancel mid-stream reaches the sender (its signal aborts) and the stream throws', async (t) => {
  const stack = await launchStack(t);
  const agent = await startTestAgent(stack, ({ sender }) => endless(sender));
  for (const how of ['cancel()', 'signal', 'break'] as const) {
    const controller = new AbortController();
    const stream = stack.router.start({ linkGuid: stack.linkGuid }, queryRequest(stack), { chunkBytes: 8192, window: 4, signal: controller.signal });
    let batches = 0;
    const consumed = (async () => {
      for await (const _ of stream) {
        if (++batches === 3) {
          if (how === 'cancel()') stream.cancel();
          else if (how === 'signal') controller.abort();
          else break;
        }
      }
    })();
    if (how === 'break') await consumed;
    else await assert.rejects(consumed, { code: 'cancelled' });
    const served = agent.served.at(-1);
    assert.ok(served);
    const reason = await aborted(served.sender.signal, 5_000);
    assert.ok(reason instanceof AppError && reason.code === 'cancelled', `${how}: ${String(reason)}`);
    stream.cancel(); // idempotent
    await assert.rejects(stream.summary(), { code: 'cancelled' });
  }
  await sleep(50);
  assert.equal(agent.sent.filter((c) => c.kind === 'error').length, 0, 'no error chunk is sent to a requester that cancelled');
});

test('the agent connection closed mid-stream: the requester gets agent_lost within about stallMs', async (t) => {
  const stack = await launchStack(t);
  await startTestAgent(stack, ({ sender }) => endless(sender));
  const stallMs = 500;
  const stream = stack.router.start({ linkGuid: stack.linkGuid }, queryRequest(stack), { stallMs, chunkBytes: 8192, window: 4 });
  let closedAt = 0;
  const failed = (async () => {
    let batches = 0;
    for await (const _ of stream) {
      if (++batches === 2) {
        await stack.agentNc.close();
        closedAt = Date.now();
      }
    }
  })();
  await assert.rejects(failed, { code: 'agent_lost' });
  const after = Date.now() - closedAt;
  assert.ok(after >= stallMs - 50 && after < stallMs + 1_000, `failed ${after} ms after the close`);
});

test('no responders: site_offline, quickly', async (t) => {
  const stack = await launchStack(t);
  const started = Date.now();
  const stream = stack.router.start({ linkGuid: randomUUID() }, queryRequest(stack, { haloGuid: randomUUID() }));
  await assert.rejects(stream.columns(), { code: 'site_offline' });
  await assert.rejects(drain(stream), { code: 'site_offline' });
  assert.ok(Date.now() - started < 1_000, `took ${Date.now() - started} ms`);
});

test('no responders within resendOfflineUntil: the query is sent again until an agent serves it, then site_offline past it', async (t) => {
  const stack = await launchStack(t);
  // Nobody serves the site yet (its leaf moving to another hub node): the stream keeps sending.
  const stream = stack.router.start({ linkGuid: stack.linkGuid }, queryRequest(stack), { resendOfflineUntil: Date.now() + 10_000 });
  await sleep(800);
  const agent = await startTestAgent(stack, async ({ sender }) => {
    await sender.meta(COLUMNS);
    await sendRows(sender, 3);
    await sender.end({ timings });
  });
  assert.deepEqual(await stream.columns(), COLUMNS);
  assert.equal(await drain(stream), 3);
  assert.equal(agent.served.length, 1, 'the agent ran it once');

  const nobody = stack.router.start({ linkGuid: randomUUID() }, queryRequest(stack, { haloGuid: randomUUID() }), { resendOfflineUntil: Date.now() + 600 });
  await assert.rejects(nobody.columns(), { code: 'site_offline' });
});

test('an error chunk arrives as the AppError with its code, before or after rows; other errors hide their message', async (t) => {
  const stack = await launchStack(t);
  await startTestAgent(stack, async ({ request, sender }) => {
    if (request.command.text === 'early') throw new AppError('query_failed', 'Invalid column name');
    await sender.meta(COLUMNS);
    await sendRows(sender, 3_000);
    if (request.command.text === 'late') throw new AppError('agent_busy', 'too many queries');
    throw new Error('connection string with password=secret');
  });
  const start = (text: string) => stack.router.start({ linkGuid: stack.linkGuid }, queryRequest(stack, {
    command: { text, type: 'text', executionMode: 'reader', parameters: [] },
  }), { chunkBytes: 16 * 1024 });
  const early = start('early');
  await assert.rejects(early.columns(), { code: 'query_failed', message: 'Invalid column name' });
  await assert.rejects(drain(early), { code: 'query_failed' });
  await assert.rejects(drain(start('late')), { code: 'agent_busy', message: 'too many queries' });
  await assert.rejects(drain(start('other')), { code: 'internal', message: 'internal error' });
});

test('the deadline passing ends the query on both sides', async (t) => {
  const stack = await launchStack(t);
  const agent = await startTestAgent(stack, async ({ request, sender }) => {
    if (request.command.text === 'rows') await sender.meta(COLUMNS);
    // A long statement: it ends only when the sender's signal says so.
    await aborted(sender.signal, 10_000);
    throw sender.signal.reason;
  });
  for (const text of ['no meta', 'rows']) {
    const started = Date.now();
    const stream = stack.router.start({ linkGuid: stack.linkGuid }, queryRequest(stack, {
      deadline: Date.now() + 600,
      command: { text, type: 'text', executionMode: 'reader', parameters: [] },
    }), { stallMs: 5_000 });
    await assert.rejects(drain(stream), { code: 'deadline_exceeded', message: 'query deadline passed' });
    const ms = Date.now() - started;
    assert.ok(ms >= 550 && ms < 1_500, `${text}: failed after ${ms} ms`);
    const served = agent.served.at(-1);
    assert.ok(served);
    const reason = await aborted(served.sender.signal, 2_000);
    // Both sides time the same deadline: the agent's own timer or the requester's cancel at it, whichever is first.
    assert.ok(reason instanceof AppError && ['deadline_exceeded', 'cancelled'].includes(reason.code), String(reason));
  }
});

test('the agent stops when its requester grants no credit for stallMs', async (t) => {
  const stack = await launchStack(t);
  const agent = await startTestAgent(stack, ({ sender }) => endless(sender), { stallMs: 300 });
  const stream = stack.router.start({ linkGuid: stack.linkGuid }, queryRequest(stack), { chunkBytes: 4096, window: 2 });
  await stream.columns(); // ... and never iterates
  const served = agent.served.at(-1);
  assert.ok(served);
  const reason = await aborted(served.sender.signal, 3_000);
  assert.ok(reason instanceof AppError && reason.code === 'deadline_exceeded', String(reason));
  // The agent's error chunk (sent without credit) ends the requester's stream.
  await assert.rejects(drain(stream), { code: 'deadline_exceeded' });
});

test('a chunk forged on another link\'s reply subject is dropped and logged', async (t) => {
  const stack = await launchStack(t);
  await startTestAgent(stack, async ({ sender }) => {
    await sleep(300);
    await sender.meta(COLUMNS);
    await sendRows(sender, 10);
    await sender.end({ timings });
  });
  const request = queryRequest(stack);
  const stream = stack.router.start({ linkGuid: stack.linkGuid }, request);
  const otherLink = randomUUID();
  const forged = subjects.reply(otherLink, stack.router.requesterId, request.queryId);
  stack.requesterNc.publish(forged, encodeJson({ columns: [{ name: 'forged', type: 'NVarChar' }] }), { headers: chunkHeaders('meta', 0) });
  stack.requesterNc.publish(forged, encodeJson({ code: 'internal', message: 'forged' }), { headers: chunkHeaders('error', 1) });
  // A whole result, the one frame that would end the stream by itself, is dropped the same way.
  const meta = JSON.stringify({ columns: [{ name: 'forged', type: 'NVarChar' }] });
  const end = JSON.stringify({ rowCount: 1, bytes: 18, timings });
  const whole = chunkHeaders('whole', 0);
  whole.set(ChunkHeaders.rows, '1');
  whole.set(ChunkHeaders.metaBytes, String(meta.length));
  whole.set(ChunkHeaders.endBytes, String(end.length));
  stack.requesterNc.publish(forged, new TextEncoder().encode(`${meta}{"forged":"row"}${end}`), { headers: whole });
  assert.deepEqual(await stream.columns(), COLUMNS);
  assert.equal(await drain(stream), 10);
  assert.ok(stack.logs.lines.some((l) => l.msg === 'chunk from another link dropped' && l.linkGuid === otherLink));
});

test('gaps, duplicates and chunks outside the window are protocol errors: internal, and the agent is cancelled', async (t) => {
  const stack = await launchStack(t);
  const scripts: Record<string, Array<[ChunkKind, number]>> = {
    gap: [['meta', 0], ['rows', 2]],
    duplicate: [['meta', 0], ['rows', 1], ['rows', 1]],
    window: [['meta', 0], ['rows', 1], ['rows', 2], ['rows', 3]],
    lateMeta: [['meta', 0], ['meta', 1]],
  };
  const agent = await startTestAgent(stack, async ({ request, msg, sender }) => {
    for (const [kind, seq] of scripts[request.command.text] ?? []) {
      const body = kind === 'meta' ? { columns: COLUMNS } : [makeRow(seq)];
      stack.agentNc.publish(msg.reply ?? '', encodeJson(body), { headers: chunkHeaders(kind, seq) });
    }
    await aborted(sender.signal, 5_000);
  });
  for (const text of Object.keys(scripts)) {
    const stream = stack.router.start({ linkGuid: stack.linkGuid }, queryRequest(stack, {
      command: { text, type: 'text', executionMode: 'reader', parameters: [] },
    }), { window: 2 });
    await assert.rejects(drain(stream), { code: 'internal' }, text);
    const served = agent.served.at(-1);
    assert.ok(served);
    const reason = await aborted(served.sender.signal, 3_000);
    assert.ok(reason instanceof AppError && reason.code === 'cancelled', `${text}: ${String(reason)}`);
  }
  assert.ok(stack.logs.has('chunk protocol violation'));
});

test('encoded rows chunks are checked as frames: a bad row count, a cut body or lines that do not match are protocol errors', async (t) => {
  const stack = await launchStack(t);
  const rowsChunk = (seq: number, rows: string | undefined) => {
    const h = chunkHeaders('rows', seq);
    if (rows !== undefined) h.set(ChunkHeaders.rows, rows);
    return h;
  };
  const end = (rowCount: number) => encodeJson({ rowCount, bytes: 10, timings: { queuedMs: 0, executionMs: 0 } });
  // Each script: rows chunks as [Halo-Rows, body], then (when reached) an end counting `count` rows.
  const scripts: Record<string, { format: 'json' | 'ndjson'; chunks: Array<[string | undefined, string]>; count: number }> = {
    cutJson: { format: 'json', chunks: [['2', '{"id":1},{"id":2']], count: 2 },
    notRecords: { format: 'json', chunks: [['1', '[1,2]']], count: 1 },
    zeroRows: { format: 'json', chunks: [['0', '{"id":1}']], count: 0 },
    badCount: { format: 'json', chunks: [['x', '{"id":1}']], count: 1 },
    fewerLines: { format: 'ndjson', chunks: [['3', '{"id":1}\n{"id":2}\n']], count: 3 },
    noNewline: { format: 'ndjson', chunks: [['1', '{"id":1}']], count: 1 },
    endCountsMore: { format: 'json', chunks: [['1', '{"id":1}']], count: 5 },
    cellsThatAreNot: { format: 'json', chunks: [[undefined, '{"id":1}']], count: 1 },
  };
  await startTestAgent(stack, async ({ request, msg, sender }) => {
    const script = scripts[request.command.text]!;
    stack.agentNc.publish(msg.reply ?? '', encodeJson({ columns: [{ name: 'id', type: 'Int' }] }), { headers: chunkHeaders('meta', 0) });
    script.chunks.forEach(([rows, body], i) => stack.agentNc.publish(msg.reply ?? '', new TextEncoder().encode(body), { headers: rowsChunk(i + 1, rows) }));
    stack.agentNc.publish(msg.reply ?? '', end(script.count), { headers: chunkHeaders('end', script.chunks.length + 1) });
    await aborted(sender.signal, 5_000);
  });
  for (const [text, script] of Object.entries(scripts)) {
    const stream = stack.router.start({ linkGuid: stack.linkGuid }, queryRequest(stack, {
      command: { text, type: 'text', executionMode: 'reader', parameters: [] },
    }), { rowFormat: script.format });
    await assert.rejects(drain(stream), { code: 'internal', message: 'chunk protocol violation' }, text);
  }
  assert.ok(stack.logs.lines.filter((l) => l.msg === 'chunk protocol violation').length >= Object.keys(scripts).length);
});

test('an agent older than encoded rows (cell arrays) is read in either format, as an encoding agent would be', async (t) => {
  const stack = await launchStack(t);
  const older = await launchStack(t);
  await startTestAgent(stack, async ({ sender }) => {
    await sender.meta(COLUMNS);
    await sendRows(sender, 300, { batch: 70 });
    await sender.end({ timings: { queuedMs: 0, executionMs: 0 } });
  });
  await startTestAgent(older, async ({ sender }) => {
    await sender.meta(COLUMNS);
    await sendRows(sender, 300, { batch: 70 });
    await sender.end({ timings: { queuedMs: 0, executionMs: 0 } });
  }, { cells: true });
  for (const rowFormat of ['json', 'ndjson'] as const) {
    const read = async (s: typeof stack) => {
      const stream = s.router.start({ linkGuid: s.linkGuid }, queryRequest(s), { rowFormat });
      let text = '';
      let count = 0;
      for await (const chunk of stream) {
        text += (text && rowFormat === 'json' ? ',' : '') + Buffer.from(chunk.bytes).toString('utf8');
        count += chunk.count;
      }
      return { text, count };
    };
    const [encoded, cells] = [await read(stack), await read(older)];
    assert.equal(encoded.count, 300);
    assert.deepEqual(cells, encoded, rowFormat);
    const parsed = rowFormat === 'json' ? JSON.parse(`[${encoded.text}]`) : encoded.text.trimEnd().split('\n').map((l) => JSON.parse(l));
    assert.deepEqual(parsed[299], Object.fromEntries(COLUMNS.map((c, i) => [c.name, makeRow(299)[i]])));
  }
});

test('a whole result whose parts do not add up, or whose rows are not framed, is a protocol error', async (t) => {
  const stack = await launchStack(t);
  const meta = JSON.stringify({ columns: [{ name: 'id', type: 'Int' }] });
  const end = JSON.stringify({ rowCount: 1, bytes: 8, timings: { queuedMs: 0, executionMs: 0 } });
  const cases: Record<string, { body: string; metaBytes: string; endBytes: string; rows?: string }> = {
    metaPastBody: { body: `${meta}{"id":1}${end}`, metaBytes: '9999', endBytes: String(end.length), rows: '1' },
    noParts: { body: `${meta}{"id":1}${end}`, metaBytes: '', endBytes: '', rows: '1' },
    cutRows: { body: `${meta}{"id":1${end}`, metaBytes: String(meta.length), endBytes: String(end.length), rows: '1' },
    uncountedRows: { body: `${meta}{"id":1}${end}`, metaBytes: String(meta.length), endBytes: String(end.length) },
  };
  await startTestAgent(stack, async ({ request, msg, sender }) => {
    const c = cases[request.command.text]!;
    const h = chunkHeaders('whole', 0);
    h.set(ChunkHeaders.metaBytes, c.metaBytes);
    h.set(ChunkHeaders.endBytes, c.endBytes);
    if (c.rows) h.set(ChunkHeaders.rows, c.rows);
    stack.agentNc.publish(msg.reply ?? '', new TextEncoder().encode(c.body), { headers: h });
    await aborted(sender.signal, 5_000);
  });
  for (const text of Object.keys(cases)) {
    const stream = stack.router.start({ linkGuid: stack.linkGuid }, queryRequest(stack, { command: { text, type: 'text', executionMode: 'reader', parameters: [] } }));
    await assert.rejects(drain(stream), { code: 'internal', message: 'chunk protocol violation' }, text);
  }
});
