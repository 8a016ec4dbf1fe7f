// Slow and idle clients against a real listening facade (startFacade over a real nats-server), through raw
// sockets: the request and keep-alive bounds drop them, and the connection cap keeps the process's descriptors.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createLogger } from '@halo/log';
import { connectNats } from '@halo/messaging';
import { launchHub } from '@halo/testkit';
import { startFacade, type HttpLimits } from '../src/index.ts';
import { KEY, QUERY_URL } from './fakes.ts';
import { RawConnection } from './raw-http.ts';

const log = createLogger({ name: 'facade-slow-clients-test', level: 'silent' });

async function realFacade(t: TestContext, http: Partial<HttpLimits>): Promise<{ url: string; port: number }> {
  const hub = await launchHub();
  t.after(() => hub.close());
  const nc = await connectNats({ servers: hub.clientUrl, name: 'facade', log });
  t.after(() => nc.close());
  const facade = await startFacade({ requirePairing: false, nc, port: 0, host: '127.0.0.1', keys: [{ integratorId: 'acme', key: KEY }], log, async: false, http });
  t.after(() => facade.close());
  return { url: facade.url, port: Number(new URL(facade.url).port) };
}

/** Opens n connections, a hundred at a time (a burst of a thousand SYNs would overflow the listen backlog). */
async function openMany(t: TestContext, port: number, n: number): Promise<RawConnection[]> {
  const all: RawConnection[] = [];
  t.after(() => { for (const c of all) c.destroy(); });
  while (all.length < n) all.push(...await Promise.all(Array.from({ length: Math.min(100, n - all.length) }, () => RawConnection.open(port))));
  return all;
}

/** Complete headers of an authenticated query whose 100 000-byte body never comes. */
const BODY_HELD_BACK = `POST ${QUERY_URL} HTTP/1.1\r\nHost: facade\r\nOcp-Apim-Subscription-Key: ${KEY}\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n`;

/** This process's open-files limit (the soft one, which a child shell inherits). */
function openFilesLimit(): number {
  const out = execFileSync('sh', ['-c', 'ulimit -n'], { encoding: 'utf8' }).trim();
  return out === 'unlimited' ? Infinity : Number(out);
}

async function assertRequestTimeout(conn: RawConnection): Promise<void> {
  const res = await conn.response();
  assert.equal(res.status, 408);
  assert.equal(res.headers.connection, 'close');
  assert.equal((JSON.parse(res.body) as { error: { code: string } }).error.code, 'request_timeout');
  await conn.closed;
}

test('1,000 connections holding back their body do not stop a normal client, and each gets 408 and is closed at the request timeout', async (t) => {
  const slowCount = 1000;
  // Both ends of every connection live in this process, plus the hub, NATS and the runner.
  const needed = 2 * slowCount + 200;
  assert.ok(openFilesLimit() >= needed, `this test holds ${slowCount} connections from both ends: raise the open-files limit to at least ${needed} (ulimit -n 4096)`);
  // The cap is above the slow ones (the next test shows it at work); the bound must outlast opening them.
  const { url, port } = await realFacade(t, { headersTimeoutSeconds: 5, requestTimeoutSeconds: 5, maxConnections: slowCount + 50 });
  const startedAt = Date.now();
  const slow = await openMany(t, port, slowCount);
  // Half send nothing after the headers, half trickle one byte a second.
  const trickles: NodeJS.Timeout[] = [];
  t.after(() => trickles.forEach(clearInterval));
  slow.forEach((conn, i) => {
    conn.write(BODY_HELD_BACK);
    if (i % 2 === 1) trickles.push(setInterval(() => conn.write(' '), 1000));
  });

  // /docs/json, not /health: this facade has no registry, so its health is rightly 503.
  const served = await fetch(`${url}/docs/json`, { headers: { connection: 'close' } });
  assert.equal(served.status, 200);
  assert.equal(((await served.json()) as { openapi: string }).openapi.slice(0, 2), '3.');
  assert.equal(slow.filter((c) => c.isClosed || c.received > 0).length, 0, 'every slow connection is still held while the normal client is served');
  const servedAfterMs = Date.now() - startedAt;

  await Promise.all(slow.map(assertRequestTimeout));
  t.diagnostic(`normal client served ${servedAfterMs} ms after the first slow connection; all ${slowCount} dropped with 408 after ${Date.now() - startedAt} ms`);
  assert.equal((await fetch(`${url}/docs/json`)).status, 200);
});

test('connections beyond the cap are closed as they arrive, and the facade serves again once the held ones are dropped', async (t) => {
  const cap = 20;
  const { url, port } = await realFacade(t, { headersTimeoutSeconds: 3, requestTimeoutSeconds: 3, maxConnections: cap });
  const held = await openMany(t, port, cap);
  for (const conn of held) conn.write(BODY_HELD_BACK);

  const over = await openMany(t, port, 5);
  await Promise.all(over.map((c) => c.closed));
  assert.deepEqual(over.map((c) => c.received), [0, 0, 0, 0, 0], 'refused without an answer');
  await assert.rejects(fetch(`${url}/docs/json`), 'a normal client is refused while the cap is full');
  assert.equal(held.filter((c) => c.isClosed).length, 0, 'the refusals came before the bound dropped the held connections');

  await Promise.all(held.map(assertRequestTimeout));
  assert.equal((await fetch(`${url}/docs/json`)).status, 200);
});

test('an idle keep-alive connection is closed after the keep-alive timeout', async (t) => {
  const { port } = await realFacade(t, { keepAliveTimeoutSeconds: 1 });
  const conn = await RawConnection.open(port);
  t.after(() => conn.destroy());
  conn.write('GET /docs/json HTTP/1.1\r\nHost: facade\r\n\r\n');
  const res = await conn.response();
  assert.equal(res.status, 200);
  assert.equal(res.headers.connection, 'keep-alive');
  assert.equal(res.headers['keep-alive'], 'timeout=1');
  await conn.closed;
  assert.equal(conn.received, 0);
});
