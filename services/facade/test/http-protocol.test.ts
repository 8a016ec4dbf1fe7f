// Requests that fail below the routes (Node's parser, its timeouts, Expect, Host): each answers in the error
// shape, and says `Connection: close` since the server then closes the socket.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { ErrorStatus } from '@halo/contracts';
import { KEY, QUERY_URL, testApp, type TestApp } from './fakes.ts';
import { RawConnection, type RawResponse } from './raw-http.ts';

async function listening(t: TestContext, options: Parameters<typeof testApp>[1] = {}): Promise<TestApp & { port: number }> {
  const app = testApp({}, options);
  t.after(() => app.app.close());
  await app.app.listen({ port: 0, host: '127.0.0.1' });
  return { ...app, port: (app.app.server.address() as AddressInfo).port };
}

async function connect(t: TestContext, port: number): Promise<RawConnection> {
  const conn = await RawConnection.open(port);
  t.after(() => conn.destroy());
  return conn;
}

/** The error shape with this status and code, `Connection: close`, and the server closing the socket. */
async function assertClosingError(conn: RawConnection, res: RawResponse, status: number, code: string): Promise<void> {
  assert.equal(res.status, status, res.body);
  assert.equal(ErrorStatus[code as keyof typeof ErrorStatus], status);
  assert.match(res.headers['content-type'] ?? '', /^application\/json/);
  const body = JSON.parse(res.body) as { error: { status: number; code: string; message: string } };
  assert.deepEqual(Object.keys(body), ['error']);
  assert.equal(body.error.status, status);
  assert.equal(body.error.code, code);
  assert.equal(typeof body.error.message, 'string');
  assert.equal(res.headers.connection, 'close');
  await conn.closed;
}

const HEALTH = 'GET /health HTTP/1.1\r\nHost: facade\r\n\r\n';

test('malformed requests are 400 bad_request in the error shape with Connection: close, also on a reused keep-alive socket', async (t) => {
  const { port } = await listening(t);
  // A client reusing a keep-alive socket: the first answer keeps it open, the malformed request closes it, and says so.
  const reused = await connect(t, port);
  reused.write(HEALTH);
  const first = await reused.response();
  assert.equal(first.status, 200);
  assert.equal(first.headers.connection, 'keep-alive');
  reused.write('GET /health HTTP/1.1\r\nHost: facade\r\nBad Header\r\n\r\n');
  await assertClosingError(reused, await reused.response(), 400, 'bad_request');

  for (const bytes of ['NOT HTTP AT ALL\r\n\r\n', 'GET /health HTTP/1.1\r\nHost: facade\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n', 'GET /health HTTP/1.1\r\nHost: facade\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n']) {
    const conn = await connect(t, port);
    conn.write(bytes);
    await assertClosingError(conn, await conn.response(), 400, 'bad_request');
  }
});

test('headers over the limit are 431 headers_too_large with Connection: close', async (t) => {
  const { port } = await listening(t);
  const conn = await connect(t, port);
  conn.write(`GET /health HTTP/1.1\r\nHost: facade\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`);
  await assertClosingError(conn, await conn.response(), 431, 'headers_too_large');
});

test('requests not received within the bounds are 408 request_timeout with Connection: close: slow headers and a missing body', async (t) => {
  const { port, queries } = await listening(t, { http: { headersTimeoutSeconds: 1, requestTimeoutSeconds: 1 } });
  const slowHeaders = await connect(t, port);
  slowHeaders.write('GET /health HTTP/1.1\r\nHost: fac');
  const noBody = await connect(t, port);
  noBody.write(`POST ${QUERY_URL} HTTP/1.1\r\nHost: facade\r\nOcp-Apim-Subscription-Key: ${KEY}\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{"command":`);
  await assertClosingError(slowHeaders, await slowHeaders.response(), 408, 'request_timeout');
  await assertClosingError(noBody, await noBody.response(), 408, 'request_timeout');
  assert.equal(queries.calls.length, 0);
});

test('an Expect other than 100-continue is 417 expectation_failed with Connection: close', async (t) => {
  const { port } = await listening(t);
  const conn = await connect(t, port);
  conn.write('GET /health HTTP/1.1\r\nHost: facade\r\nExpect: the-unexpected\r\n\r\n');
  await assertClosingError(conn, await conn.response(), 417, 'expectation_failed');
});

test('an HTTP/1.1 request without Host is 400 bad_request with Connection: close, before keys and routes; HTTP/1.0 needs none', async (t) => {
  const { port } = await listening(t);
  for (const path of ['/health', '/integrator/sites?practiceManagementSiteId=1', '/no-such-route']) {
    const conn = await connect(t, port);
    conn.write(`GET ${path} HTTP/1.1\r\n\r\n`);
    const res = await conn.response();
    await assertClosingError(conn, res, 400, 'bad_request');
    assert.match(res.body, /Host/);
  }
  const old = await connect(t, port);
  old.write('GET /health HTTP/1.0\r\n\r\n');
  assert.equal((await old.response()).status, 200);
});
