// The console's and portal's sessions, CSRF checks, usage and key slots, across two facade replicas on one hub:
// what one replica signs, records or rotates, the other honours (all in JetStream, none in a replica's memory).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { createLogger } from '@halo/log';
import { connectNats } from '@halo/messaging';
import { launchHub } from '@halo/testkit';
import { startFacade } from '../src/index.ts';
import { SessionSigner } from '../src/console/session.ts';
import { quantile, usageByDay } from '../src/usage/usage-summary.ts';
import { KEY } from './fakes.ts';

const log = createLogger({ name: 'browser-uis-test', level: 'silent' });
const SUPPORT_KEY = 'support-key-0123456789abcdefghijklmnopqrstuv';

test('session cookies: signed, of one kind, expiring; CSRF tokens belong to their session', () => {
  const signer = new SessionSigner(Buffer.alloc(32, 7));
  const { cookie, session } = signer.issue('support', 'alice', 60_000, 1_000);
  assert.deepEqual(signer.verify(cookie, 'support', 2_000), session);
  assert.equal(signer.verify(cookie, 'portal', 2_000), null, 'a console session does not open the portal');
  assert.equal(signer.verify(cookie, 'support', 61_000), null, 'expired');
  const [payload, mac] = cookie.split('.') as [string, string];
  const forged = Buffer.from(JSON.stringify({ ...session, sub: 'mallory' })).toString('base64url');
  assert.equal(signer.verify(`${forged}.${mac}`, 'support', 2_000), null, 'a changed payload fails its signature');
  assert.equal(new SessionSigner(Buffer.alloc(32, 8)).verify(cookie, 'support', 2_000), null, 'another secret');
  assert.equal(signer.verify(payload, 'support', 2_000), null);
  assert.equal(signer.checkCsrf(session, signer.csrfToken(session)), true);
  assert.equal(signer.checkCsrf(signer.issue('support', 'alice', 60_000).session, signer.csrfToken(session)), false);
  assert.equal(signer.checkCsrf(session, undefined), false);
  assert.throws(() => new SessionSigner(Buffer.alloc(16)), /32 bytes/);
});

test('usage per day: counts by status and site, bytes, nearest-rank p50/p99, rate-limit hits', () => {
  assert.equal(quantile([], 0.5), 0);
  assert.equal(quantile([1, 2, 3, 4], 0.5), 2);
  assert.equal(quantile(Array.from({ length: 100 }, (_, i) => i + 1), 0.99), 99);
  const now = Date.parse('2026-03-02T12:00:00Z');
  const entry = (at: number, status: number, siteId?: string) => ({ at, integratorId: 'a', route: 'r', status, durationMs: status, bytes: 10, ...(siteId ? { siteId } : {}) });
  const days = usageByDay([entry(now - 86_400_000, 200, 's1'), entry(now, 200, 's1'), entry(now, 429), entry(now, 403, 's2')], 3, now);
  assert.deepEqual(days.map((d) => d.day), ['2026-02-28', '2026-03-01', '2026-03-02']);
  assert.deepEqual(days[2], { day: '2026-03-02', byStatus: { 200: 1, 403: 1, 429: 1 }, bySite: { s1: 1, s2: 1, '(none)': 1 }, total: 3, bytes: 30, p50Ms: 403, p99Ms: 429, rateLimited: 1 });
  assert.equal(days[0]!.total, 0);
});

test('two replicas: a session, the usage and a rotated key slot made on one hold on the other', async (t) => {
  const hub = await launchHub();
  t.after(() => hub.close());
  const start = async (name: string) => {
    const nc = await connectNats({ servers: hub.clientUrl, name, log });
    t.after(() => nc.close());
    const facade = await startFacade({ nc, port: 0, host: '127.0.0.1', keys: [{ integratorId: 'acme', key: KEY }], supportKeys: [{ supportUserId: 'alice', key: SUPPORT_KEY }], log, queryTimeoutMs: 2_000 });
    t.after(() => facade.close());
    return facade.url;
  };
  const a = await start('facade-a');
  const b = await start('facade-b');
  const form = (fields: Record<string, string>) => ({ method: 'POST', redirect: 'manual' as const, headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(fields).toString() });
  const signIn = async (url: string, path: string, key: string) => {
    const res = await fetch(`${url}${path}/sign-in`, form({ key }));
    await res.arrayBuffer();
    return res;
  };
  const cookieOf = (res: Response) => res.headers.get('set-cookie')!.split(';')[0]!;
  const csrfOf = (page: string) => /name="_csrf" value="([^"]+)"/.exec(page)![1]!;

  await t.test('sign-in: a wrong key is refused; the cookie is HttpOnly, Secure, SameSite=Strict, expiring', async () => {
    assert.equal((await signIn(a, '/portal', 'wrong')).status, 401);
    assert.equal((await signIn(a, '/console', KEY)).status, 401, 'a subscription key does not open the console');
    const res = await signIn(a, '/portal', KEY);
    assert.equal(res.status, 303);
    const cookie = res.headers.get('set-cookie')!;
    for (const flag of ['HttpOnly', 'Secure', 'SameSite=Strict', 'Path=/portal', 'Max-Age=28800']) assert.ok(cookie.includes(flag), `${flag} in ${cookie}`);
    const unsigned = await fetch(`${a}/portal`, { redirect: 'manual' });
    assert.equal(unsigned.status, 303, 'no session: back to the sign-in');
  });

  await t.test('a session from replica A opens replica B; its usage recorded on A shows on B', async () => {
    const cookie = cookieOf(await signIn(a, '/portal', KEY));
    // An unknown site: 404 site_not_found or 503 (no registry here); either way one usage entry with its site.
    const query = await fetch(`${a}/integrator/sites/3f0c9b4e-0000-4000-8000-000000000001/queries/immediate`, {
      method: 'POST', headers: { 'ocp-apim-subscription-key': KEY, 'content-type': 'application/json' },
      body: JSON.stringify({ command: { text: 'SELECT 1', executionMode: 'reader' } }),
    });
    const status = query.status;
    await query.arrayBuffer();
    let page = '';
    for (let i = 0; i < 50 && !page.includes('3f0c9b4e-0000-4000-8000-000000000001'); i++) {
      if (i > 0) await sleep(100);
      const res = await fetch(`${b}/portal`, { headers: { cookie } });
      assert.equal(res.status, 200);
      page = await res.text();
    }
    assert.ok(page.includes('3f0c9b4e-0000-4000-8000-000000000001'), 'the site of the query recorded on A');
    assert.ok(page.includes(`<td>${status}</td>`));
    assert.ok(!page.includes('SELECT 1'), 'never the query text');
  });

  await t.test('changes need the session\'s CSRF token; the console rotates a key slot that works on the other replica', async () => {
    const cookie = cookieOf(await signIn(a, '/console', SUPPORT_KEY));
    const pageRes = await fetch(`${b}/console/integrators`, { headers: { cookie } });
    assert.equal(pageRes.status, 200);
    const csrf = csrfOf(await pageRes.text());
    const rotate = (fields: Record<string, string>) => fetch(`${b}/console/integrators/acme/slots/2/rotate`, { ...form(fields), headers: { ...form(fields).headers, cookie } });
    const refused = await rotate({});
    assert.equal(refused.status, 403);
    assert.equal(((await refused.json()) as { error: { code: string } }).error.code, 'csrf_failed');
    const other = csrfOf(await (await fetch(`${a}/console/integrators`, { headers: { cookie: cookieOf(await signIn(a, '/console', SUPPORT_KEY)) } })).text());
    const foreign = await rotate({ _csrf: other });
    assert.equal(foreign.status, 403, "another session's token");
    await foreign.arrayBuffer();
    const done = await rotate({ _csrf: csrf });
    assert.equal(done.status, 200);
    const key = /<code id="new-key">([^<]+)<\/code>/.exec(await done.text())![1]!;
    let status = 0;
    for (let i = 0; i < 50 && status !== 404; i++) {
      if (i > 0) await sleep(100);
      const res = await fetch(`${a}/integrator/no-such-route`, { headers: { 'ocp-apim-subscription-key': key } });
      status = res.status;
      await res.arrayBuffer();
    }
    assert.equal(status, 404, 'the new key passes the key check on replica A (then meets an unknown route)');
    const unknown = await fetch(`${a}/integrator/no-such-route`, { headers: { 'ocp-apim-subscription-key': `${key.slice(0, -1)}x` } });
    assert.equal(unknown.status, 401, 'an unknown key is refused on that route');
    await unknown.arrayBuffer();
    const old = await fetch(`${a}/integrator/no-such-route`, { headers: { 'ocp-apim-subscription-key': KEY } });
    assert.equal(old.status, 404, 'slot 1 keeps working');
  });
});
