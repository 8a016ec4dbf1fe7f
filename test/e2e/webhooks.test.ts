// Signed webhooks: set through the support API, sent when async queries succeed and registered query results
// change, verified by a receiver the way an integrator would, retried after 503s in order, durable across
// worker restarts, dropped after the last attempt; URLs to private addresses refused.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { startFacade } from '@halo/facade';
import { Kvm } from '@nats-io/kv';
import { WEBHOOK_NAMES, WebhookDelivery } from '@halo/contracts';
import { connectNats } from '@halo/messaging';
import { webhookCounters } from '@halo/worker';
import { eventually, startAsyncTestSystem, SUBSCRIPTION_KEY, type AsyncTestSystem } from '../support/async-system.ts';
import { startDeliverer, startScheduler, type WorkerPart } from '../support/registered-workers.ts';
import { startWebhookReceiver, type ReceivedWebhook } from '../support/webhook-receiver.ts';

type Json = Record<string, any>;
const SUPPORT_KEY = 'support-key-0123456789abcdefghijklmnopqrstuv';
const QUICK = 'SELECT PatNum FROM patient ORDER BY PatNum LIMIT 3';

function support(baseUrl: string, path: string, init: RequestInit = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  headers.set('authorization', `Bearer ${SUPPORT_KEY}`);
  if (init.body !== undefined) headers.set('content-type', 'application/json');
  return fetch(`${baseUrl}/support${path}`, { ...init, headers });
}

async function asyncQuery(sys: AsyncTestSystem, siteId: string): Promise<string> {
  const res = await sys.call(`/integrator/sites/${siteId}/queries/async`, { method: 'POST', body: JSON.stringify({ command: { text: QUICK } }) });
  assert.equal(res.status, 201);
  const { id } = (await res.json()) as Json;
  await eventually(async () => {
    const s = (await (await sys.call(`/integrator/sites/${siteId}/queries/${id}`)).json()) as Json;
    return s.status === 'successful' ? s : undefined;
  }, 30_000, 50);
  return id as string;
}

test('webhooks', async (t) => {
  const receiver = await startWebhookReceiver();
  const sys = await startAsyncTestSystem({
    facade: { supportKeys: [{ supportUserId: 'alice', key: SUPPORT_KEY }], webhooks: { allowPrivate: true }, registered: { minFrequencySeconds: 1 } },
  });
  const parts: WorkerPart[] = [];
  t.after(async () => {
    for (const p of parts) await p.stop('graceful');
    await sys.close();
    await receiver.close();
  });
  const path = sys.sampleDatabase('practice-w', 'PMS-WEBHOOK-1');
  const agent = await sys.startAgent('link-w', [{ name: 'a', path }]);
  const siteId = agent.sites[0]!.haloGuid;
  const delivered = (queryId: string): ReceivedWebhook[] => receiver.received.filter((r) => r.body.queryId === queryId);
  const okFor = (queryId: string) => eventually(async () => delivered(queryId).find((r) => r.answered === 200), 30_000, 50);

  await t.test('URLs that are not https or resolve to loopback, link-local or private addresses are refused', async () => {
    const nc = await connectNats({ servers: sys.hub.clientUrl, name: 'strict-facade', log: sys.log });
    const strict = await startFacade({ nc, port: 0, host: '127.0.0.1', keys: [{ integratorId: 'test', key: SUBSCRIPTION_KEY }], log: sys.log, supportKeys: [{ supportUserId: 'alice', key: SUPPORT_KEY }] });
    try {
      for (const url of ['http://example.com/hook', 'https://127.0.0.1/hook', 'https://localhost/hook', 'https://10.1.2.3/hook', 'https://192.168.1.1/hook', 'https://169.254.169.254/latest', 'https://[::1]/hook', 'https://[fe80::1]/hook', 'https://[::ffff:127.0.0.1]/hook', 'https://user:pw@example.com/hook', 'not a url']) {
        const res = await support(strict.url, '/integrators/test/webhook', { method: 'PUT', body: JSON.stringify({ url }) });
        const body = (await res.json()) as Json;
        assert.equal(res.status, 400, url);
        assert.equal(body.error.code, 'webhook_url_refused', url);
      }
      const none = await support(strict.url, '/integrators/test/webhook');
      assert.equal(none.status, 404);
      const unauthorised = await fetch(`${strict.url}/support/integrators/test/webhook`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ url: 'https://example.com' }) });
      assert.equal(unauthorised.status, 401);
    } finally {
      await strict.close();
      await nc.close();
    }
  });

  await t.test('PUT answers the secret once; GET shows the URL and never the secret', async () => {
    const res = await support(sys.facade().url, '/integrators/test/webhook', { method: 'PUT', body: JSON.stringify({ url: `${receiver.url}/hooks/{source}/{siteId}` }) });
    const set = (await res.json()) as Json;
    assert.equal(res.status, 200, JSON.stringify(set));
    assert.match(set.secret, /^whsec_[A-Za-z0-9_-]{43}$/);
    assert.equal(set.updatedBy, 'alice');
    receiver.setSecret(set.secret);
    const view = (await (await support(sys.facade().url, '/integrators/test/webhook')).json()) as Json;
    assert.equal(view.url, `${receiver.url}/hooks/{source}/{siteId}`);
    assert.equal(view.secret, undefined);
    assert.equal(JSON.stringify(view).includes(set.secret), false);
    // Audited by the registry: who, integrator, URL; never the secret.
    const { entries } = (await (await support(sys.facade().url, '/audit')).json()) as { entries: Json[] };
    assert.ok(entries.some((e) => e.action === 'integrator.webhook_set' && e.integratorId === 'test' && e.who === 'alice' && e.url === view.url), JSON.stringify(entries));
    assert.equal(JSON.stringify(entries).includes(set.secret), false);
  });

  await t.test('async successes are delivered signed, in order, the first after two 503s', async () => {
    parts.push(await startDeliverer(sys.hub, 'deliverer-a', { backoffMs: 500 }), await startDeliverer(sys.hub, 'deliverer-b', { backoffMs: 500 }));
    let firstId = '';
    receiver.setAnswer((id, attempt) => {
      firstId ||= id;
      return id === firstId && attempt <= 2 ? 503 : 200;
    });
    const q1 = await asyncQuery(sys, siteId);
    const q2 = await asyncQuery(sys, siteId);
    const q3 = await asyncQuery(sys, siteId);
    await okFor(q3);
    const all = receiver.received.filter((r) => [q1, q2, q3].includes(String(r.body.queryId)));
    assert.ok(all.every((r) => r.signatureValid && r.fresh), 'every request verifies');
    assert.deepEqual(delivered(q1).map((r) => r.answered), [503, 503, 200]);
    assert.equal(new Set(delivered(q1).map((r) => r.headers['x-halo-id'])).size, 1, 'retries carry the same X-Halo-Id');
    // In order: nothing of q2 before q1 was accepted, nothing of q3 before q2.
    assert.deepEqual(all.map((r) => r.body.queryId), [q1, q1, q1, q2, q3]);
    const body = delivered(q2)[0]!.body;
    assert.deepEqual(Object.keys(body), ['id', 'occurredAt', 'siteId', 'queryId', 'webhookSource']);
    assert.equal(body.id, delivered(q2)[0]!.headers['x-halo-id']);
    assert.equal(body.siteId, siteId);
    assert.equal(body.webhookSource, 'async');
    assert.equal(delivered(q2)[0]!.path, `/hooks/async/${siteId}`);
    assert.equal(delivered(q2)[0]!.headers['content-type'], 'application/json');
    assert.ok(Date.parse(String(delivered(q1)[0]!.body.occurredAt)) <= Date.parse(String(body.occurredAt)));
  });

  await t.test('nothing is lost across worker restarts, during a retry or while no deliverer runs', async () => {
    for (const p of parts.splice(0)) await p.stop('crash');
    const q4 = await asyncQuery(sys, siteId);
    const c = await startDeliverer(sys.hub, 'deliverer-c', { backoffMs: 5_000 });
    parts.push(c);
    await okFor(q4);
    // Every event's first attempt fails now: q5 waits its 5 s backoff in JetStream when its deliverer is killed.
    receiver.setAnswer((_id, attempt) => (attempt === 1 ? 503 : 200));
    const q5 = await asyncQuery(sys, siteId);
    await eventually(async () => delivered(q5)[0], 30_000, 20);
    await c.stop('crash');
    parts.splice(parts.indexOf(c), 1);
    await sys.stopWorker('graceful');
    await sys.startWorker();
    const d = await startDeliverer(sys.hub, 'deliverer-d', { backoffMs: 200 });
    parts.push(d);
    const ok = await okFor(q5);
    assert.ok(ok.signatureValid);
    assert.deepEqual(delivered(q5).map((r) => r.answered), [503, 200]);
    assert.ok(d.lines.some((l) => l.msg === 'webhook delivered' && l.queryId === q5), 'the restarted deliverer sent the retry');
    assert.deepEqual(delivered(q4).map((r) => r.answered), [200]);
  });

  await t.test('a registered query sends a webhook when its result hash changes, and only then', async () => {
    receiver.setAnswer(() => 200);
    const s = await startScheduler(sys.hub, 'scheduler-w');
    parts.push(s);
    const res = await sys.call(`/integrator/sites/${siteId}/queries/registered`, { method: 'POST', body: JSON.stringify({ name: 'w', registeredQueryType: 'query', frequency: 1, duration: 5, registerCommand: { command: { text: 'SELECT LName FROM patient WHERE PatNum = 1' } } }) });
    const { id } = (await res.json()) as Json;
    await eventually(async () => delivered(id).find((r) => r.answered === 200), 30_000, 50);
    const db = new Database(path);
    db.prepare("UPDATE patient SET LName = 'Webhooked' WHERE PatNum = 1").run();
    db.close();
    await eventually(async () => {
      const st = (await (await sys.call(`/integrator/sites/${siteId}/queries/registered/${id}`)).json()) as Json;
      return st.status === 'completed' ? st : undefined;
    }, 30_000, 100);
    await eventually(async () => (delivered(id).length >= 2 ? true : undefined), 10_000, 50);
    await new Promise((r) => setTimeout(r, 1_000));
    const hooks = delivered(id);
    assert.equal(hooks.length, 2, 'one for the first result, one for the change');
    assert.ok(hooks.every((h) => h.body.webhookSource === 'registered' && h.path === `/hooks/registered/${siteId}` && h.signatureValid));
  });

  await t.test('an event refused with 4xx or failing every attempt is dropped and counted, and the next one flows', async () => {
    for (const p of parts.splice(0)) await p.stop('graceful');
    parts.push(await startDeliverer(sys.hub, 'deliverer-e', { backoffMs: 100, maxAttempts: 3 }));
    const dropped = webhookCounters.dropped;
    let mode: 'fail' | 'refuse' | 'ok' = 'fail';
    receiver.setAnswer(() => (mode === 'fail' ? 500 : mode === 'refuse' ? 400 : 200));
    const q6 = await asyncQuery(sys, siteId);
    await eventually(async () => (webhookCounters.dropped === dropped + 1 ? true : undefined), 30_000, 50);
    assert.deepEqual(delivered(q6).map((r) => r.answered), [500, 500, 500]);
    mode = 'refuse';
    const q7 = await asyncQuery(sys, siteId);
    await eventually(async () => (webhookCounters.dropped === dropped + 2 ? true : undefined), 30_000, 50);
    assert.deepEqual(delivered(q7).map((r) => r.answered), [400]);
    mode = 'ok';
    const q8 = await asyncQuery(sys, siteId);
    await okFor(q8);
    // What the worker recorded for the portal (KV webhook-deliveries, each event's latest attempt): metadata only.
    const nc = await connectNats({ servers: sys.hub.clientUrl, name: 'delivery-records', log: sys.log });
    t.after(() => nc.close());
    const records = await new Kvm(nc).open(WEBHOOK_NAMES.deliveries);
    const recorded = async (queryId: string) => eventually(async () => {
      for await (const key of await records.keys(`${Buffer.from('test').toString('base64url')}.>`)) {
        const entry = await records.get(key);
        const value = entry ? WebhookDelivery.parse(entry.json()) : undefined;
        if (value?.queryId === queryId && value.state !== 'retrying') return { value, raw: entry!.string() };
      }
      return undefined;
    }, 10_000, 100);
    const [r6, r7, r8] = [await recorded(q6), await recorded(q7), await recorded(q8)];
    assert.deepEqual([r6.value.state, r6.value.attempts, r6.value.lastStatus, r6.value.webhookSource, r6.value.siteId], ['dropped', 3, 500, 'async', siteId]);
    assert.deepEqual([r7.value.state, r7.value.attempts, r7.value.lastStatus], ['dropped', 1, 400]);
    assert.deepEqual([r8.value.state, r8.value.attempts, r8.value.lastStatus], ['delivered', 1, 200]);
    assert.equal(r6.value.eventId, delivered(q6)[0]!.headers['x-halo-id']);
    for (const { raw } of [r6, r7, r8]) {
      assert.deepEqual(Object.keys(JSON.parse(raw)).sort(), ['at', 'attempts', 'eventId', 'integratorId', 'lastStatus', 'queryId', 'siteId', 'state', 'webhookSource']);
      assert.ok(!raw.includes('whsec_'), 'never the secret');
    }
  });

  await t.test('DELETE removes the webhook: 204, then 404, and nothing more is sent', async () => {
    const del = await support(sys.facade().url, '/integrators/test/webhook', { method: 'DELETE' });
    assert.equal(del.status, 204);
    assert.equal((await support(sys.facade().url, '/integrators/test/webhook')).status, 404);
    assert.equal((await support(sys.facade().url, '/integrators/test/webhook', { method: 'DELETE' })).status, 404);
    const { entries } = (await (await support(sys.facade().url, '/audit')).json()) as { entries: Json[] };
    assert.equal(entries.filter((e) => e.action === 'integrator.webhook_removed' && e.integratorId === 'test' && e.who === 'alice').length, 1, 'the removal is audited, the 404 is not');
    const before = receiver.received.length;
    await asyncQuery(sys, siteId);
    await new Promise((r) => setTimeout(r, 1_500));
    assert.equal(receiver.received.length, before);
  });
});
