// The worker's storage pieces against a real nats-server: result pages, record compare-and-set, job handling.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { Objm } from '@nats-io/obj';
import {
  ASYNC_NAMES, AsyncQueryRecord, RowEncoder, SiteRequest, asyncPageName, subjects,
  type AsyncJob, type SiteView,
} from '@halo/contracts';
import { createLogger } from '@halo/log';
import { connectNats, encodeJson, serveJson, type NatsConnection } from '@halo/messaging';
import { cleanupStack, launchHub, queuedAsyncRecord, type HasAfter } from '@halo/testkit';
import { PageWriter, deletePagesFrom } from '../src/page-writer.ts';
import { openAsyncResources } from '@halo/async-queries';
import { startWorker } from '../src/index.ts';

const log = createLogger({ name: 'worker-test', level: process.env.TEST_LOG === '1' ? 'debug' : 'silent' });

async function hubConnection(t: HasAfter): Promise<{ nc: NatsConnection; defer: (fn: () => unknown) => void }> {
  const defer = cleanupStack(t);
  const hub = await launchHub();
  defer(() => hub.close());
  const nc = await connectNats({ servers: hub.clientUrl, name: 'worker-test', log });
  defer(() => nc.close());
  return { nc, defer };
}

test('PageWriter cuts rows into pages of about pageBytes, with row ranges, and pages can be deleted', async (t) => {
  const { nc } = await hubConnection(t);
  const store = await openAsyncResources(nc, { replicas: 1, resultTtlMs: 60_000 });
  const queryId = randomUUID();
  const writer = new PageWriter({ store: store.results, queryId, pageBytes: 1_000 });
  const encoder = new RowEncoder([{ name: 'id', type: 'Int' }, { name: '__proto__', type: 'NVarChar' }], 'json');
  const rows = Array.from({ length: 100 }, (_, i) => [i, `row-${i}`.padEnd(40, '.')]);
  // Chunks of 4 rows (~300 bytes), as an agent's encoded chunks arrive.
  for (let i = 0; i < rows.length; i += 4) {
    const chunk = encoder.encode(rows.slice(i, i + 4));
    await writer.add({ count: chunk.count, bytes: Buffer.from(chunk.text) });
  }
  await writer.finish();
  assert.ok(writer.pageCount >= 5, `pages: ${writer.pageCount}`);
  assert.ok(writer.firstWriteAt !== undefined);

  const all: Array<Record<string, unknown>> = [];
  for (let page = 1; page <= writer.pageCount; page++) {
    const info = await store.results.info(asyncPageName(queryId, page));
    assert.ok(info);
    assert.equal(Number(info.metadata?.rowsStart), all.length);
    const data = await store.results.getBlob(asyncPageName(queryId, page));
    const parsed = JSON.parse(new TextDecoder().decode(data!)) as Array<Record<string, unknown>>;
    assert.equal(Number(info.metadata?.rowsCount), parsed.length);
    // A page closes with the chunk that takes it to pageBytes: at most one chunk more.
    if (page < writer.pageCount) assert.ok(data!.byteLength >= 1_000 && data!.byteLength < 1_400, `page ${page}: ${data!.byteLength} bytes`);
    all.push(...parsed);
  }
  assert.equal(all.length, 100);
  assert.deepEqual(Object.keys(all[7]!), ['id', '__proto__']);
  assert.equal(all[7]!.id, 7);
  assert.equal(Object.getPrototypeOf(all[7]), Object.prototype);

  assert.equal(await deletePagesFrom(store.results, queryId, 3), writer.pageCount - 2);
  assert.ok(await store.results.info(asyncPageName(queryId, 2)));
  const third = await store.results.info(asyncPageName(queryId, 3));
  assert.ok(third === null || third.deleted);
});

test('the worker ends queries for unknown or non-authoritative sites, skips finished ones and drops bad jobs', async (t) => {
  const { nc, defer } = await hubConnection(t);
  const linkGuid = randomUUID();
  const sites = new Map<string, SiteView | null>();
  const registry = serveJson(nc, {
    subject: subjects.registry('site'),
    schema: SiteRequest,
    log,
    handler: async (req: SiteRequest) => ({ site: sites.get(req.haloGuid) ?? null }),
  });
  defer(() => registry.unsubscribe());
  const worker = await startWorker({ nc, log, ackWaitMs: 2_000, pullExpiresMs: 1_000, retryMaxMs: 200 });
  defer(() => worker.close());
  const kv = await new Kvm(nc).open(ASYNC_NAMES.queries);
  const js = jetstream(nc);

  const enqueue = async (r: AsyncQueryRecord) => {
    await kv.create(r.id, JSON.stringify(r));
    const job: AsyncJob = { queryId: r.id, integratorId: r.integratorId, haloGuid: r.siteId, command: { text: 'SELECT 1', type: 'text', executionMode: 'reader', parameters: [] }, submittedAt: r.createdAt, queueDeadline: r.queueDeadline };
    await js.publish(subjects.asyncWork(r.siteId), encodeJson(job), { msgID: r.id });
  };
  const stateOf = async (id: string) => AsyncQueryRecord.parse((await kv.get(id))!.json());

  const unknown = queuedAsyncRecord({ linkGuid });
  const secondary = queuedAsyncRecord({ linkGuid });
  sites.set(secondary.siteId, {
    haloGuid: secondary.siteId, linkGuid, env: 'production', pmsType: 'sample', pmsId: 'P-1', practiceName: 'x', databaseIdentity: 'sqlite:x',
    catalogues: [], status: 'active', haloLinkVersion: '0.1.0', createdAt: '', updatedAt: '', authoritative: false, availability: 'online',
  });
  const finished = queuedAsyncRecord({ state: 'cancelled' });
  const expired = queuedAsyncRecord({ queueDeadline: Date.now() - 1 });
  for (const r of [unknown, secondary, finished, expired]) await enqueue(r);
  await js.publish(subjects.asyncWork(randomUUID()), encodeJson({ not: 'a job' }));

  const jsm = await jetstreamManager(nc);
  for (let i = 0; i < 100; i++) {
    if ((await jsm.streams.info(ASYNC_NAMES.workStream)).state.messages === 0) break;
    await sleep(100);
  }
  assert.equal((await jsm.streams.info(ASYNC_NAMES.workStream)).state.messages, 0);
  const u = await stateOf(unknown.id);
  assert.equal(u.state, 'initialisationFailed');
  assert.equal(u.error?.code, 'site_not_found');
  assert.ok(u.expiresAt! > Date.now());
  assert.equal((await stateOf(secondary.id)).error?.code, 'site_not_authoritative');
  assert.equal((await stateOf(finished.id)).state, 'cancelled');
  const e = await stateOf(expired.id);
  assert.equal(e.state, 'expiredInQueue');
  assert.ok(e.statusTiming.expiredInQueue);
  // The store's result bucket exists for the facade to read.
  assert.ok(await new Objm(nc).open(ASYNC_NAMES.results));
});

test('failed pulls are retried without piling listeners onto the worker\'s stop signal', async (t) => {
  const { nc, defer } = await hubConnection(t);
  const lines: string[] = [];
  const { Writable } = await import('node:stream');
  const counting = createLogger({ name: 'worker-test', level: 'warn', destination: new Writable({ write(chunk, _e, done) { lines.push(String(chunk)); done(); } }) });
  // Node 24 warns of no AbortSignal listener leak, so count them: abort listeners held per signal.
  const held = new Map<EventTarget, number>();
  const { addEventListener, removeEventListener } = EventTarget.prototype;
  EventTarget.prototype.addEventListener = function (this: EventTarget, type: string, ...rest: [never, never]) {
    if (type === 'abort') held.set(this, (held.get(this) ?? 0) + 1);
    return addEventListener.call(this, type, ...rest);
  };
  EventTarget.prototype.removeEventListener = function (this: EventTarget, type: string, ...rest: [never, never]) {
    if (type === 'abort') held.set(this, (held.get(this) ?? 0) - 1);
    return removeEventListener.call(this, type, ...rest);
  };
  defer(() => Object.assign(EventTarget.prototype, { addEventListener, removeEventListener }));
  const worker = await startWorker({ nc, log: counting, pullRetryMs: 5, pullExpiresMs: 1_000 });
  defer(() => worker.close());
  // With its consumer gone, every pull fails at once and the worker waits pullRetryMs before the next.
  await (await jetstreamManager(nc)).consumers.delete(ASYNC_NAMES.workStream, ASYNC_NAMES.workConsumer);
  const failures = () => lines.filter((l) => l.includes('pulling async work failed')).length;
  for (let i = 0; i < 400 && failures() < 30; i++) await sleep(25);
  assert.ok(failures() >= 30, `pulls failed ${failures()} times`);
  const most = Math.max(...held.values());
  assert.ok(most <= 3, `one signal holds ${most} abort listeners after ${failures()} failed pulls`);
});
