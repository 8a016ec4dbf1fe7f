// NDJSON over a real listening app, read by real clients (curl, Node's fetch): a stream cut mid-way is told
// apart from a complete one, and a client that stops reading is dropped at the idle timeout.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import net, { type AddressInfo } from 'node:net';
import { AppError, RowEncoder } from '@halo/contracts';
import type { ResultStream, RowBytes } from '@halo/messaging';
import { FakeQueries, KEY, QUERY_URL, testApp, type TestApp } from './fakes.ts';

/** Rows in batches of 1000 (`i`), `batches` of them, then the end or `failure`; endless when batches is Infinity. */
class BatchQueries extends FakeQueries {
  cancelled = 0;
  readonly plan: { batches: number; failure?: AppError };
  constructor(plan: { batches: number; failure?: AppError }) {
    super();
    this.plan = plan;
  }

  override start(...args: Parameters<FakeQueries['start']>): ResultStream {
    super.start(...args);
    const { batches, failure } = this.plan;
    let cancelled = false;
    const rowCount = Number.isFinite(batches) ? batches * 1000 : 0;
    return {
      queryId: args[1].queryId,
      columns: async () => [{ name: 'i', type: 'int' }],
      summary: async () => ({ rowCount, bytes: 0, timings: { queuedMs: 0, executionMs: 0 } }),
      cancel: () => {
        if (!cancelled) this.cancelled++;
        cancelled = true;
      },
      async *[Symbol.asyncIterator](): AsyncGenerator<RowBytes> {
        const encoder = new RowEncoder([{ name: 'i', type: 'int' }], args[1].rowFormat);
        for (let b = 0; b < batches; b++) {
          if (cancelled) throw new AppError('cancelled', 'query cancelled');
          const batch = encoder.encode(Array.from({ length: 1000 }, (_, i) => [b * 1000 + i]));
          yield { count: batch.count, bytes: Buffer.from(batch.text) };
          await new Promise((resolve) => setImmediate(resolve));
        }
        if (failure) throw failure;
      },
    };
  }
}

async function listening(t: TestContext, queries: FakeQueries, http: NonNullable<Parameters<typeof testApp>[1]>['http'] = {}): Promise<TestApp & { url: string; port: number }> {
  const app = testApp({ queries }, { http });
  t.after(() => app.app.close());
  await app.app.listen({ port: 0, host: '127.0.0.1' });
  const port = (app.app.server.address() as AddressInfo).port;
  return { ...app, port, url: `http://127.0.0.1:${port}${QUERY_URL}` };
}

const BODY = JSON.stringify({ command: { text: 'SELECT i FROM t' } });
const HEADERS = { 'ocp-apim-subscription-key': KEY, 'content-type': 'application/json', accept: 'application/x-ndjson' };

function curl(url: string): Promise<{ exitCode: number; stdout: string; stderr: string }> {
  const args = ['-sS', '-N', '-X', 'POST', '--data', BODY, url, ...Object.entries(HEADERS).flatMap(([k, v]) => ['-H', `${k}: ${v}`])];
  return new Promise((resolve) => {
    execFile('curl', args, { maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      resolve({ exitCode: err ? Number((err as { code?: unknown }).code) : 0, stdout, stderr });
    });
  });
}

/** Reads a fetch body to its end; `error` is what the read rejected with, if it did. */
async function fetchBody(url: string): Promise<{ status: number; text: string; error?: Error }> {
  const res = await fetch(url, { method: 'POST', headers: HEADERS, body: BODY });
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let text = '';
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return { status: res.status, text };
      text += decoder.decode(value, { stream: true });
    }
  } catch (err) {
    return { status: res.status, text, error: err as Error };
  }
}

const lastLine = (text: string) => text.trimEnd().split('\n').at(-1);

test('a stream cut mid-way ends with an error line and no terminating chunk: curl exits 18 and fetch rejects', async (t) => {
  const failure = new AppError('site_offline', 'the site stopped answering');
  const { url } = await listening(t, new BatchQueries({ batches: 3, failure }));
  const envelope = { error: { status: 503, statusText: 'Service Unavailable', code: 'site_offline', message: 'the site stopped answering' } };

  const byCurl = await curl(url);
  assert.equal(byCurl.exitCode, 18, byCurl.stderr);
  assert.match(byCurl.stderr, /transfer closed with outstanding read data remaining/);
  assert.equal(byCurl.stdout.trimEnd().split('\n').length, 3001);
  assert.deepEqual(JSON.parse(lastLine(byCurl.stdout)!), envelope);

  const byFetch = await fetchBody(url);
  assert.equal(byFetch.status, 200);
  assert.ok(byFetch.error, 'fetch must reject a body cut without its terminating chunk');
  assert.match(String((byFetch.error.cause as Error | undefined)?.message ?? byFetch.error.message), /other side closed|terminated/);
  assert.deepEqual(JSON.parse(lastLine(byFetch.text)!), envelope);
});

test('a complete stream ends with its terminating chunk: curl exits 0 and fetch resolves, the last line a row', async (t) => {
  const { url } = await listening(t, new BatchQueries({ batches: 3 }));
  const byCurl = await curl(url);
  assert.equal(byCurl.exitCode, 0, byCurl.stderr);
  assert.deepEqual(JSON.parse(lastLine(byCurl.stdout)!), { i: 2999 });
  const byFetch = await fetchBody(url);
  assert.equal(byFetch.error, undefined);
  assert.deepEqual(JSON.parse(lastLine(byFetch.text)!), { i: 2999 });
});

test('a client that stops reading a stream is dropped at the idle timeout and its query cancelled', async (t) => {
  const queries = new BatchQueries({ batches: Infinity });
  const { port } = await listening(t, queries, { idleTimeoutSeconds: 1 });
  const socket = net.connect(port, '127.0.0.1');
  t.after(() => socket.destroy());
  socket.on('error', () => undefined);
  socket.pause();
  socket.write(`POST ${QUERY_URL} HTTP/1.1\r\nHost: facade\r\n${Object.entries(HEADERS).map(([k, v]) => `${k}: ${v}\r\n`).join('')}Content-Length: ${Buffer.byteLength(BODY)}\r\n\r\n${BODY}`);
  for (;;) {
    if (queries.cancelled === 1 && queries.calls[0]?.signal.aborted) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
});
