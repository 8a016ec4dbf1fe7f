import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { LookupRequest, SiteRequest, subjects, type HttpError } from '@halo/contracts';
import { createLogger } from '@halo/log';
import { connectNats, serveJson } from '@halo/messaging';
import { launchHub } from '@halo/testkit';
import { startFacade } from '../src/index.ts';
import { AUTH, KEY, siteView, testApp } from './fakes.ts';

const log = createLogger({ name: 'facade-health-test', level: 'silent' });

test('/health/live and /health/ready answer; ready is 503 in the envelope when NATS is down, not for shared dependencies', async (t) => {
  let nats = 'connected';
  let shared: 'ok' | 'unavailable' = 'ok';
  const { app } = testApp({ health: () => ({ nats, registry: shared, jetstream: shared }) });
  t.after(() => app.close());
  assert.deepEqual((await app.inject({ url: '/health/live' })).json(), { status: 'ok' });
  const ready = await app.inject({ url: '/health/ready' });
  assert.equal(ready.statusCode, 200);
  assert.deepEqual(ready.json(), { status: 'ok' });

  // Shared dependencies down (a leader election after a hub node died): /health says so, the replica stays ready,
  // since taking every replica out of the load balancer would only make it worse.
  shared = 'unavailable';
  assert.equal((await app.inject({ url: '/health' })).statusCode, 503);
  assert.equal((await app.inject({ url: '/health/ready' })).statusCode, 200);
  shared = 'ok';

  nats = 'disconnected';
  const down = await app.inject({ url: '/health/ready' });
  assert.equal(down.statusCode, 503);
  assert.deepEqual(down.json<HttpError>().error, { status: 503, statusText: 'Service Unavailable', code: 'service_unavailable', message: 'this replica cannot serve queries: NATS is disconnected' });
  assert.equal((await app.inject({ url: '/health/live' })).statusCode, 200, 'live does not depend on NATS');
});

test('on close the facade turns not-ready, then stops accepting while a request in flight still completes', async (t) => {
  const hub = await launchHub();
  t.after(() => hub.close());
  const client = await connectNats({ servers: hub.clientUrl, name: 'facade', log });
  t.after(() => client.close());
  const service = await connectNats({ servers: hub.clientUrl, name: 'registry', log });
  t.after(() => service.close());
  // A registry whose lookups wait until the test lets them go: the one slow request in flight.
  let arrived!: () => void;
  const lookupArrived = new Promise<void>((resolve) => { arrived = resolve; });
  let release!: () => void;
  const released = new Promise<void>((resolve) => { release = resolve; });
  serveJson(service, { subject: subjects.registry('site'), schema: SiteRequest, log, handler: async () => ({ site: null }) });
  serveJson(service, {
    subject: subjects.registry('lookup'), schema: LookupRequest, log,
    handler: async () => {
      arrived();
      await released;
      return { sites: [siteView()] };
    },
  });
  await service.flush();
  const facade = await startFacade({ requirePairing: false, nc: client, port: 0, host: '127.0.0.1', keys: [{ integratorId: 'acme', key: KEY }], log, async: false, drainDelayMs: 1000 });
  // A failed assertion must not leave the lookup (and so the facade) hanging.
  t.after(() => { release(); return facade.close(); });

  assert.equal((await fetch(`${facade.url}/health/ready`)).status, 200);
  const slow = fetch(`${facade.url}/integrator/sites?practiceManagementSiteId=PRAC-1`, { headers: AUTH });
  await lookupArrived;

  const closed = facade.close();
  const notReady = await fetch(`${facade.url}/health/ready`);
  assert.equal(notReady.status, 503);
  assert.deepEqual(((await notReady.json()) as HttpError).error, { status: 503, statusText: 'Service Unavailable', code: 'service_unavailable', message: 'this replica cannot serve queries: it is draining for shutdown' });
  assert.equal(notReady.headers.get('connection'), 'close', 'a draining replica closes keep-alive connections after each answer');

  // Once the delay is over the facade refuses new connections; the request in flight is still being served.
  for (let live = true; live;) {
    live = await fetch(`${facade.url}/health/live`).then(() => true, () => false);
    if (live) await sleep(50);
  }
  release();
  const answer = await slow;
  assert.equal(answer.status, 200);
  assert.equal(((await answer.json()) as { sites: unknown[] }).sites.length, 1);
  await closed;
});

test('under pressure, requests are shed with 503 overloaded and Retry-After; health routes are not', async (t) => {
  // Any heap is over a 1-byte bound once the first sample (10 ms) is taken.
  const { app } = testApp({}, { loadShedding: { maxHeapUsedBytes: 1, sampleIntervalMs: 10, retryAfterSeconds: 7 } });
  t.after(() => app.close());
  await app.ready();
  let shed;
  for (let attempt = 0; attempt < 200 && !shed; attempt++) {
    const res = await app.inject({ url: '/integrator/sites?practiceManagementSiteId=PRAC-1', headers: AUTH });
    if (res.statusCode === 503) shed = res;
    else await sleep(10);
  }
  assert.ok(shed, 'no request was shed');
  assert.equal(shed.headers['retry-after'], '7');
  assert.deepEqual(shed.json<HttpError>().error, { status: 503, statusText: 'Service Unavailable', code: 'overloaded', message: 'this replica is overloaded; retry shortly' });
  for (const url of ['/health', '/health/live', '/health/ready']) assert.equal((await app.inject({ url })).statusCode, 200, url);
});
