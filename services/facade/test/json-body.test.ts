// JSON bodies are decoded strictly: invalid UTF-8 is refused, never replaced with U+FFFD and run.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { AUTH, QUERY_URL, testApp } from './fakes.ts';

test('a JSON body that is not valid UTF-8 is 400 bad_request and runs nothing; valid UTF-8 arrives intact', async (t) => {
  const { app, queries } = testApp();
  t.after(() => app.close());
  await app.listen({ port: 0, host: '127.0.0.1' });
  const port = (app.server.address() as AddressInfo).port;
  const url = `http://127.0.0.1:${port}${QUERY_URL}`;
  const post = (body: Uint8Array) => fetch(url, { method: 'POST', headers: { ...AUTH, 'content-type': 'application/json' }, body });
  const json = (text: string) => Buffer.from(JSON.stringify({ command: { text } }));
  const invalid = [
    Buffer.concat([json("SELECT 'a").subarray(0, -3), Buffer.from([0xff]), Buffer.from('"}}')]), // not a UTF-8 byte
    Buffer.concat([json("SELECT 'a").subarray(0, -3), Buffer.from([0xc3]), Buffer.from('"}}')]), // truncated sequence
    Buffer.concat([json("SELECT 'a").subarray(0, -3), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from('"}}')]), // a surrogate
    Buffer.concat([json("SELECT 'a").subarray(0, -3), Buffer.from([0xc0, 0xaf]), Buffer.from('"}}')]), // overlong '/'
  ];
  for (const body of invalid) {
    const res = await post(body);
    assert.equal(res.status, 400);
    assert.deepEqual(await res.json(), { error: { status: 400, statusText: 'Bad Request', code: 'bad_request', message: 'request body is not valid UTF-8' } });
  }
  assert.equal(queries.calls.length, 0);

  const text = "SELECT 'café ☕ 𝄞' AS x";
  assert.equal((await post(json(text))).status, 200);
  assert.equal(queries.calls[0]?.request.command.text, text);
  // Fastify's own checks still apply under the stricter decoding.
  const proto = await post(Buffer.from('{"command":{"text":"SELECT 1"},"__proto__":{"x":1}}'));
  assert.equal(proto.status, 400);
  assert.equal(((await proto.json()) as { error: { code: string } }).error.code, 'bad_request');
});
