// The stall timer measures a silent agent, not a slow database: a live agent sends keep-alive frames while its
// query waits or its statement runs; an agent that is gone or frozen trips the stall with agent_lost.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { ChunkHeaders, KEEPALIVE_KIND, subjects } from '@halo/contracts';
import type { Msg } from '@halo/messaging';
import { COLUMNS, aborted, launchStack, queryRequest, sendRows, startTestAgent, type Stack } from './chunk-fixture.ts';

const timings = { queuedMs: 0, executionMs: 1 };

/** Every keep-alive frame on the requester's reply subjects, with the seq it names. */
function watchKeepAlives(stack: Stack, t: { after: (fn: () => unknown) => void }): Array<{ seq: number; at: number }> {
  const seen: Array<{ seq: number; at: number }> = [];
  const sub = stack.requesterNc.subscribe(subjects.replyWildcard(stack.router.requesterId), {
    callback: (_err, msg: Msg) => {
      if (msg.headers?.get(ChunkHeaders.kind) === KEEPALIVE_KIND) {
        assert.equal(msg.data.length, 0, 'a keep-alive carries no data');
        seen.push({ seq: Number(msg.headers.get(ChunkHeaders.seq)), at: Date.now() });
      }
    },
  });
  t.after(() => sub.unsubscribe());
  return seen;
}

test('an agent that is slow before meta and before its first row, but alive, is not stalled', async (t) => {
  const stack = await launchStack(t);
  await stack.requesterNc.flush();
  const keepAlives = watchKeepAlives(stack, t);
  const stallMs = 300;
  await startTestAgent(stack, async ({ sender }) => {
    await sleep(stallMs * 4); // waiting for a slot, or compiling
    await sender.meta(COLUMNS);
    await sleep(stallMs * 4); // the statement runs before its first row
    await sendRows(sender, 10);
    await sender.end({ timings });
  });
  const stream = stack.router.start({ linkGuid: stack.linkGuid }, queryRequest(stack), { stallMs });
  let rows = 0;
  for await (const batch of stream) rows += batch.count;
  assert.equal(rows, 10);
  assert.equal((await stream.summary()).rowCount, 10);
  // Frames before meta name seq 0, those after it seq 1: they take no place in the chunk sequence.
  assert.ok(keepAlives.some((k) => k.seq === 0) && keepAlives.some((k) => k.seq === 1), JSON.stringify(keepAlives));
  assert.ok(keepAlives.every((k) => k.seq === 0 || k.seq === 1), JSON.stringify(keepAlives));
});

test('an agent gone before it sent anything (connection closed) or frozen (subscribed, silent) ends in agent_lost', async (t) => {
  const stack = await launchStack(t);
  const stallMs = 300;
  // Frozen: the query is delivered to a subscriber that never answers, as to a SIGSTOPped process.
  const frozen = stack.agentNc.subscribe(subjects.query(stack.linkGuid, stack.haloGuid), { callback: () => undefined });
  await stack.agentNc.flush();
  const probe = () => stack.router.start({ linkGuid: stack.linkGuid }, queryRequest(stack, { deadline: Date.now() + 10_000 }), { stallMs });
  await waitUntilDelivered(stack, probe);
  const silent = probe();
  await assert.rejects(silent.columns(), { code: 'agent_lost' });
  frozen.unsubscribe();

  // Gone: the agent received the query (it is running) and then its connection closed.
  const agent = await startTestAgent(stack, async ({ sender }) => {
    await aborted(sender.signal, 20_000);
    throw sender.signal.reason;
  });
  const stream = stack.router.start({ linkGuid: stack.linkGuid }, queryRequest(stack, { deadline: Date.now() + 10_000 }), { stallMs });
  while (agent.served.length === 0) await sleep(10);
  await stack.agentNc.close();
  await assert.rejects(stream.columns(), { code: 'agent_lost' });
});

test('no keep-alives while the agent waits for credit: the requester is the slow side, and its stall timer is off', async (t) => {
  const stack = await launchStack(t);
  await stack.requesterNc.flush();
  const keepAlives = watchKeepAlives(stack, t);
  const stallMs = 300;
  const agent = await startTestAgent(stack, async ({ sender }) => {
    await sender.meta(COLUMNS);
    for (;;) await sendRows(sender, 50, { batch: 50 });
  }, { stallMs: 30_000 });
  const window = 2;
  const stream = stack.router.start({ linkGuid: stack.linkGuid }, queryRequest(stack), { stallMs, window, chunkBytes: 4096 });
  await stream.columns();
  // The agent fills the window at once, then waits; wait through many keep-alive intervals without consuming.
  while (agent.sent.length < window + 1) await sleep(10);
  const filledAt = Date.now();
  await sleep(stallMs * 4);
  assert.deepEqual(keepAlives.filter((k) => k.at >= filledAt), [], 'keep-alives while waiting for credit');
  assert.equal(agent.served[0]!.sender.signal.aborted, false, 'the agent is still waiting');
  // Not stalled: consuming now works.
  let batches = 0;
  for await (const _ of stream) if (++batches === 5) break;
  assert.equal(batches, 5);
});

/** Starts probe queries until one reaches the subscriber (interest crosses the leaf asynchronously). */
async function waitUntilDelivered(stack: Stack, start: () => { columns(): Promise<unknown>; cancel(): void }): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const stream = start();
    const outcome = await Promise.race([stream.columns().then(() => 'answered', (err: { code?: string }) => err.code), sleep(100).then(() => 'delivered')]);
    stream.cancel();
    if (outcome === 'delivered') return;
    await sleep(50);
  }
  throw new Error('the subscription never reached the hub');
}
