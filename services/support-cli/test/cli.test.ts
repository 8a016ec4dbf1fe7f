import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { runCli } from '@halo/support-cli';

const SITE = '11111111-1111-4111-8111-111111111111';
const OTHER = '22222222-2222-4222-8222-222222222222';
const LINK = '33333333-3333-4333-8333-333333333333';
const KEY = 'support-key';

const site = (haloGuid: string, authoritative: boolean) => ({
  haloGuid, linkGuid: LINK, env: 'production', pmsType: 'sample', pmsId: 'P-1', practiceName: 'Harbourside', databaseIdentity: 'sqlite:/x',
  catalogues: [], status: 'active', haloLinkVersion: '0.1.0', createdAt: '2026-01-01T00:00:00Z', updatedAt: '2026-01-01T00:00:00Z',
  authoritative, availability: 'online', lastSeen: '2026-01-01T00:00:05Z', clockDrift: false,
});

/** A stand-in for the facade's /support routes that records what the CLI sent. */
async function fakeFacade(t: import('node:test').TestContext) {
  const seen: Array<{ method: string; url: string; auth: string | undefined; body: unknown }> = [];
  const server = createServer((req: IncomingMessage, res) => {
    let text = '';
    req.on('data', (c: Buffer) => { text += c.toString('utf8'); });
    req.on('end', () => {
      seen.push({ method: req.method ?? '', url: req.url ?? '', auth: req.headers.authorization, body: text ? JSON.parse(text) : undefined });
      const send = (status: number, body: unknown) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
      if (req.headers.authorization !== `Bearer ${KEY}`) return send(401, { error: { status: 401, statusText: 'Unauthorized', code: 'unauthorized', message: 'missing or invalid support key' } });
      const url = new URL(req.url ?? '/', 'http://x');
      if (url.pathname === '/support/sites') return send(200, { sites: [site(SITE, true), site(OTHER, false)] });
      if (url.pathname === '/support/practices') return send(200, { practices: [{ pmsType: 'sample', pmsId: 'P-1', authoritative: SITE, epoch: 1, since: '2026-01-01T00:00:00Z', sites: [site(SITE, true)] }], links: [] });
      if (url.pathname === '/support/authority') {
        const body = JSON.parse(text) as { expectedEpoch?: number };
        if (body.expectedEpoch === 9) return send(409, { error: { status: 409, statusText: 'Conflict', code: 'conflict', message: 'authority is at epoch 1, not 9' } });
        return send(200, {
          practice: { pmsType: 'sample', pmsId: 'P-1', authoritative: OTHER, epoch: 2, since: '2026-01-02T00:00:00Z', by: 'alice', reason: 'r', sites: [] },
          audit: { action: 'authority.moved', at: '2026-01-02T00:00:00Z', who: 'alice', reason: 'r', pmsType: 'sample', pmsId: 'P-1', from: SITE, to: OTHER, epoch: 2 },
        });
      }
      if (url.pathname === '/support/audit') return send(200, { entries: [{ action: 'authority.moved', at: '2026-01-02T00:00:00Z', who: 'alice', reason: 'migrated', pmsType: 'sample', pmsId: 'P-1', from: SITE, to: OTHER, epoch: 2, seq: 1 }] });
      if (url.pathname === '/support/enrolment-tokens') {
        const body = JSON.parse(text) as { linkGuid?: string };
        if (body.linkGuid === OTHER) return send(404, { error: { status: 404, statusText: 'Not Found', code: 'not_found', message: 'no credentials were minted for that link' } });
        return send(200, { token: 'T'.repeat(43), env: 'production', expiresAt: '2026-01-02T00:00:00.000Z', ...(body.linkGuid ? { linkGuid: body.linkGuid } : {}) });
      }
      if (url.pathname === `/support/links/${LINK}/revoke`) return send(200, { linkGuid: LINK, env: 'production', revokedKeys: ['UKEY'], revokedUntil: '2026-01-02T00:05:00.000Z' });
      return send(404, { error: { status: 404, statusText: 'Not Found', code: 'not_found', message: 'no such route' } });
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => server.close(() => r())));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const run = async (argv: string[], key = KEY) => {
    const out: string[] = [];
    const err: string[] = [];
    const code = await runCli(argv, { env: { HALO_SUPPORT_URL: url, HALO_SUPPORT_KEY: key }, out: (s) => out.push(s), err: (s) => err.push(s) });
    return { code, out: out.join('\n'), err: err.join('\n') };
  };
  return { seen, run };
}

test('halo-support sites, list and audit print what the support API answers', async (t) => {
  const { seen, run } = await fakeFacade(t);
  const sites = await run(['sites', 'P-1']);
  assert.equal(sites.code, 0);
  assert.match(sites.out, new RegExp(`${SITE}  AUTHORITATIVE  active  online  v0.1.0  last seen 2026-01-01T00:00:05Z`));
  assert.match(sites.out, new RegExp(`${OTHER}  not-authoritative`));
  assert.equal(seen[0]?.url, '/support/sites?pmsId=P-1');
  assert.equal(seen[0]?.auth, `Bearer ${KEY}`);
  const list = await run(['list', '--pms-id', 'P-1', '--json']);
  assert.equal(list.code, 0);
  assert.equal(JSON.parse(list.out).practices[0].authoritative, SITE);
  const audit = await run(['audit', '--pms-id', 'P-1', '--limit', '5']);
  assert.match(audit.out, /authority\.moved .* by alice {2}"migrated"/);
  assert.equal(seen.at(-1)?.url, '/support/audit?pmsId=P-1&limit=5');
});

test('halo-support move sends the reason and expected epoch; refusals and bad usage exit non-zero', async (t) => {
  const { seen, run } = await fakeFacade(t);
  const moved = await run(['move', '--pms-type', 'sample', '--pms-id', 'P-1', '--to', OTHER, '--reason', 'server replaced', '--expect-epoch', '1']);
  assert.equal(moved.code, 0, moved.err);
  assert.match(moved.out, new RegExp(`${SITE} -> ${OTHER} \\(epoch 2, by alice\\)`));
  assert.deepEqual(seen.at(-1)?.body, { pmsType: 'sample', pmsId: 'P-1', to: OTHER, reason: 'server replaced', expectedEpoch: 1 });

  const noReason = await run(['move', '--pms-type', 'sample', '--pms-id', 'P-1', '--to', OTHER]);
  assert.equal(noReason.code, 2);
  assert.match(noReason.err, /--reason/);
  const conflict = await run(['move', '--pms-type', 'sample', '--pms-id', 'P-1', '--to', OTHER, '--reason', 'x', '--expect-epoch', '9']);
  assert.equal(conflict.code, 1);
  assert.match(conflict.err, /409 conflict/);
  const badKey = await run(['sites', 'P-1'], 'integrator-key');
  assert.equal(badKey.code, 1);
  assert.match(badKey.err, /401 unauthorized/);
  assert.equal((await run(['frobnicate'])).code, 2);
  assert.equal((await run([])).code, 2);
  const missingEnv = await runCli(['list'], { env: {}, out: () => undefined, err: () => undefined });
  assert.equal(missingEnv, 2);
});

test('halo-support enrolment-token issues plain and re-enrolment tokens; revoke needs a reason', async (t) => {
  const { seen, run } = await fakeFacade(t);
  const plain = await run(['enrolment-token', '--ttl', '3600', '--note', 'new server']);
  assert.equal(plain.code, 0, plain.err);
  assert.deepEqual(seen.at(-1)?.body, { ttlSeconds: 3600, note: 'new server' });
  assert.match(plain.out, /^T{43}\nenrols a new link; production; one use; expires 2026-01-02T00:00:00.000Z$/);
  const bound = await run(['enrolment-token', '--link', LINK]);
  assert.equal(bound.code, 0, bound.err);
  assert.deepEqual(seen.at(-1)?.body, { linkGuid: LINK });
  assert.match(bound.out, new RegExp(`re-enrols link ${LINK} only`));
  const unknown = await run(['enrolment-token', '--link', OTHER]);
  assert.equal(unknown.code, 1);
  assert.match(unknown.err, /404 not_found/);
  assert.equal((await run(['enrolment-token', '--link', 'LINK-1'])).code, 2);

  const revoked = await run(['revoke', LINK, '--reason', 'laptop stolen']);
  assert.equal(revoked.code, 0, revoked.err);
  assert.deepEqual(seen.at(-1)?.body, { reason: 'laptop stolen' });
  assert.match(revoked.out, /revoked \(1 key\(s\)/);
  assert.equal((await run(['revoke', LINK])).code, 2);
});
