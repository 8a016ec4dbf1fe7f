import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { runCli } from '@halo/support-cli';

const KEY = 'support-key';

/** A stand-in for the facade's webhook routes (the real ones are exercised in test/e2e/webhooks.test.ts). */
async function fakeFacade(t: import('node:test').TestContext) {
  const seen: Array<{ method: string; url: string; body: unknown }> = [];
  let stored: { url: string } | null = null;
  const server = createServer((req, res) => {
    let text = '';
    req.on('data', (c: Buffer) => { text += c.toString('utf8'); });
    req.on('end', () => {
      seen.push({ method: req.method ?? '', url: req.url ?? '', body: text ? JSON.parse(text) : undefined });
      const send = (status: number, body?: unknown) => res.writeHead(status, body === undefined ? {} : { 'content-type': 'application/json' }).end(body === undefined ? undefined : JSON.stringify(body));
      if (req.url !== '/support/integrators/acme/webhook') return send(404, { error: { status: 404, statusText: 'Not Found', code: 'not_found', message: 'no such route' } });
      const view = () => ({ integratorId: 'acme', url: stored!.url, updatedAt: '2026-01-01T00:00:00.000Z', updatedBy: 'alice' });
      if (req.method === 'PUT') {
        const { url } = JSON.parse(text) as { url: string };
        if (!url.startsWith('https://')) return send(400, { error: { status: 400, statusText: 'Bad Request', code: 'webhook_url_refused', message: 'the webhook URL must use https' } });
        stored = { url };
        return send(200, { ...view(), secret: 'whsec_SECRET' });
      }
      if (!stored) return send(404, { error: { status: 404, statusText: 'Not Found', code: 'not_found', message: 'the integrator has no webhook' } });
      if (req.method === 'GET') return send(200, view());
      stored = null;
      return send(204);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => server.close(() => r())));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const run = async (argv: string[]) => {
    const out: string[] = [];
    const err: string[] = [];
    const code = await runCli(argv, { env: { HALO_SUPPORT_URL: url, HALO_SUPPORT_KEY: KEY }, out: (s) => out.push(s), err: (s) => err.push(s) });
    return { code, out: out.join('\n'), err: err.join('\n') };
  };
  return { seen, run };
}

test('halo-support webhook set prints the secret once; show never does; delete removes it; refusals exit 1', async (t) => {
  const { seen, run } = await fakeFacade(t);
  const set = await run(['webhook', 'set', 'acme', 'https://hooks.example.com/{siteId}']);
  assert.equal(set.code, 0, set.err);
  assert.match(set.out, /^whsec_SECRET\n/);
  assert.deepEqual(seen.at(-1), { method: 'PUT', url: '/support/integrators/acme/webhook', body: { url: 'https://hooks.example.com/{siteId}' } });
  const show = await run(['webhook', 'show', 'acme']);
  assert.equal(show.code, 0);
  assert.match(show.out, /acme {2}https:\/\/hooks\.example\.com\/\{siteId\} {2}set 2026-01-01T00:00:00.000Z by alice/);
  assert.equal(show.out.includes('whsec_'), false);
  const refused = await run(['webhook', 'set', 'acme', 'http://10.0.0.1/hook']);
  assert.equal(refused.code, 1);
  assert.match(refused.err, /400 webhook_url_refused/);
  const del = await run(['webhook', 'delete', 'acme']);
  assert.equal(del.code, 0, del.err);
  assert.match(del.out, /webhook of acme removed/);
  const gone = await run(['webhook', 'show', 'acme']);
  assert.equal(gone.code, 1);
  assert.match(gone.err, /404 not_found/);
  for (const argv of [['webhook'], ['webhook', 'set', 'acme'], ['webhook', 'show'], ['webhook', 'rename', 'acme'], ['webhook', 'show', 'acme', 'extra-url']]) {
    assert.equal((await run(argv)).code, 2, argv.join(' '));
  }
});
