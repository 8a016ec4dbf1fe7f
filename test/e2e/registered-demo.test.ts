// `npm start` runs registered queries and webhooks as a deployment would: secure mode (the worker and facade
// with their own NATS permissions), HTTPS facade, the worker scheduling ticks and delivering signed webhooks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent } from 'undici';
import { DEMO_INTEGRATOR_ID, startDemo } from '@halo/demo';
import { eventually } from '../support/system.ts';
import { startWebhookReceiver } from '../support/webhook-receiver.ts';

type Json = Record<string, any>;

test('npm start: a registered query runs at once at Halo\'s 60 s frequency and its first result is webhooked, signed', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'halo-demo-rq-'));
  t.after(() => rmSync(dataDir, { recursive: true, force: true }));
  const receiver = await startWebhookReceiver();
  t.after(() => receiver.close());
  const demo = await startDemo({ dataDir, httpPort: 0, installNatsServer: false });
  t.after(() => demo.close());
  const dispatcher = new Agent({ connect: { ca: readFileSync(demo.caFile) } });
  t.after(() => dispatcher.close());
  const call = (path: string, init: { method?: string; body?: unknown; support?: boolean } = {}) => fetch(`${demo.facadeUrl}${path}`, {
    method: init.method ?? 'GET',
    headers: {
      ...(init.support ? { authorization: `Bearer ${demo.supportKey}` } : { 'ocp-apim-subscription-key': demo.subscriptionKey }),
      ...(init.body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    ...(init.body !== undefined ? { body: JSON.stringify(init.body) } : {}),
    dispatcher,
  });

  const set = await call(`/support/integrators/${DEMO_INTEGRATOR_ID}/webhook`, { method: 'PUT', support: true, body: { url: `${receiver.url}/halo` } });
  const webhook = (await set.json()) as Json;
  assert.equal(set.status, 200, JSON.stringify(webhook));
  receiver.setSecret(webhook.secret);

  const site = demo.sites.find((s) => s.authoritative)!;
  const tooFast = await call(`/integrator/sites/${site.haloGuid}/queries/registered`, { method: 'POST', body: { name: 'n', registeredQueryType: 'query', frequency: 30, duration: 600, registerCommand: { command: { text: 'SELECT 1 AS one' } } } });
  assert.equal(tooFast.status, 400, 'the demo keeps Halo\'s 60 s minimum');
  const created = await call(`/integrator/sites/${site.haloGuid}/queries/registered`, { method: 'POST', body: { name: 'patients', registeredQueryType: 'query', frequency: 60, duration: 600, registerCommand: { command: { text: 'SELECT count(*) AS n FROM patient' } } } });
  const { id } = (await created.json()) as Json;
  assert.equal(created.status, 202);
  const ran = await eventually(async () => {
    const s = (await (await call(`/integrator/sites/${site.haloGuid}/queries/registered/${id}`)).json()) as Json;
    return s.metrics?.executionSucceededCount >= 1 ? s : undefined;
  }, 60_000, 200);
  assert.equal(ran.status, 'enabled');
  assert.ok(ran.lastHash);
  const result = (await (await call(`/integrator/sites/${site.haloGuid}/queries/registered/${id}/results`)).json()) as Json;
  const rows = JSON.parse(Buffer.from(result.data, 'base64').toString('utf8')) as Json[];
  assert.equal(rows.length, 1);
  assert.equal(typeof rows[0]!.n, 'number');
  const hook = await eventually(async () => receiver.received.find((r) => r.body.queryId === id), 60_000, 100);
  assert.equal(hook.body.webhookSource, 'registered');
  assert.ok(hook.signatureValid && hook.fresh);
  assert.equal((await call(`/integrator/sites/${site.haloGuid}/queries/registered/${id}`, { method: 'DELETE' })).status, 204);
});
