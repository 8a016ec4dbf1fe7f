// The support console and the integrator portal in a real Chromium (Debian's, driven by playwright-core) against
// `npm start` (the demo, in-process as demo.test.ts runs it): sign in, find SAMPLE-1001, both sites side by side,
// move authority with a reason (confirm step, audit entry, integrator query 200 -> 403 on the old site), a conflict
// shown and not overwritten, live updates without reload, wrong keys and CSRF refused, the portal's recent queries;
// axe-core checks each page. Screenshots go to test-artifacts/console/ (ignored by git).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent } from 'undici';
import { chromium, type Page } from 'playwright-core';
import { fileURLToPath } from 'node:url';
import { demoQueryBody, startDemo } from '@halo/demo';
import { startWebhookReceiver } from '../support/webhook-receiver.ts';
import { eventually } from '../support/system.ts';

const CHROMIUM = '/usr/bin/chromium';
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const ARTIFACTS = fileURLToPath(new URL('../../test-artifacts/console/', import.meta.url));
const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

/** Runs axe-core in the page; fails on serious or critical violations (labels, contrast, keyboard, ...). */
async function assertAccessible(page: Page, what: string): Promise<void> {
  // Evaluated through the DevTools protocol, so the page's CSP (script-src 'self') stays as served.
  await page.evaluate(axeSource);
  const violations = await page.evaluate(async () => {
    const axe = (globalThis as unknown as { axe: { run(context: unknown, options: unknown): Promise<{ violations: Array<{ id: string; impact: string; nodes: unknown[] }> }> } }).axe;
    const result = await axe.run((globalThis as unknown as { document: unknown }).document, { resultTypes: ['violations'] });
    return result.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.length }));
  });
  const bad = violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  assert.deepEqual(bad, [], `${what}: ${JSON.stringify(bad)}`);
}

test('support console and integrator portal in Chromium against npm start', { skip: existsSync(CHROMIUM) ? false : `${CHROMIUM} is missing (apt-get install chromium; .ci/run installs it)` }, async (t) => {
  mkdirSync(ARTIFACTS, { recursive: true });
  const dataDir = mkdtempSync(join(tmpdir(), 'halo-console-'));
  t.after(() => rmSync(dataDir, { recursive: true, force: true }));
  const demo = await startDemo({ dataDir, httpPort: 0, installNatsServer: false });
  t.after(() => demo.close());
  const dispatcher = new Agent({ connect: { ca: readFileSync(demo.caFile) } });
  t.after(() => dispatcher.close());
  const profile = mkdtempSync(join(tmpdir(), 'halo-chromium-'));
  t.after(() => rmSync(profile, { recursive: true, force: true, maxRetries: 10 }));
  const browser = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, args: FLAGS, headless: true, ignoreHTTPSErrors: true, viewport: { width: 1280, height: 900 } });
  t.after(() => browser.close());
  const page = browser.pages()[0] ?? await browser.newPage();
  browser.setDefaultTimeout(15_000);
  const shot = (name: string) => page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
  // The README's pictures (docs/console.png, docs/portal.png are copied from these): the top of the page at 70 %.
  const readmeShot = async (name: string, height: number) => {
    const cdp = await browser.newCDPSession(page);
    const { data } = await cdp.send('Page.captureScreenshot', { format: 'png', clip: { x: 0, y: 0, width: 1280, height, scale: 0.7 } });
    writeFileSync(join(ARTIFACTS, `readme-${name}.png`), Buffer.from(data, 'base64'));
    await cdp.detach();
  };

  const sites = demo.sites.filter((s) => s.pmsId === 'SAMPLE-1001');
  const original = sites.find((s) => s.authoritative)!;
  const backup = sites.find((s) => !s.authoritative)!;
  const query = async (haloGuid: string) => {
    const res = await fetch(`${demo.facadeUrl}/integrator/sites/${haloGuid}/queries/immediate`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'ocp-apim-subscription-key': demo.subscriptionKey },
      body: JSON.stringify(demoQueryBody()),
      dispatcher,
    });
    await res.arrayBuffer();
    return res.status;
  };
  const support = async (path: string, body?: object) => {
    const res = await fetch(`${demo.facadeUrl}/support${path}`, {
      method: body ? 'POST' : 'GET',
      headers: { authorization: `Bearer ${demo.supportKey}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      ...(body ? { body: JSON.stringify(body) } : {}),
      dispatcher,
    });
    assert.equal(res.status, 200, await res.clone().text());
    return res.json() as Promise<{ practices: Array<{ epoch: number; authoritative: string }> }>;
  };
  const practicePath = `/console/practices/sample/SAMPLE-1001`;

  await t.test('a wrong support key is refused; the right one signs in (keyboard only)', async () => {
    await page.goto(`${demo.facadeUrl}/console`);
    assert.match(page.url(), /\/console\/sign-in$/);
    await assertAccessible(page, 'sign-in');
    const focused = () => page.evaluate(() => (globalThis as unknown as { document: { activeElement: { id: string } | null } }).document.activeElement?.id);
    // Keyboard only: Tab past the header's link to the key field, type, Enter submits.
    for (let i = 0; i < 3 && (await focused()) !== 'key'; i++) await page.keyboard.press('Tab');
    assert.equal(await focused(), 'key', 'Tab reaches the key field');
    await page.keyboard.type('not-a-support-key');
    const refused = page.waitForResponse((r) => r.url().endsWith('/console/sign-in') && r.request().method() === 'POST');
    await page.keyboard.press('Enter');
    assert.equal((await refused).status(), 401);
    await page.getByRole('alert').filter({ hasText: 'not valid' }).waitFor();
    await page.getByLabel('Support key').fill(demo.supportKey!);
    await page.keyboard.press('Enter');
    await page.waitForURL(/\/console\/practices$/);
    const cookie = (await browser.cookies()).find((c) => c.name === 'halo_console')!;
    assert.equal(cookie.httpOnly, true);
    assert.equal(cookie.secure, true);
    assert.equal(cookie.sameSite, 'Strict');
    assert.ok(cookie.expires > Date.now() / 1000, 'the session cookie expires');
  });

  await t.test('search finds SAMPLE-1001; its practice shows both sites side by side', async () => {
    await page.getByLabel('PMS ID, PMS type or practice name').fill('SAMPLE-1001');
    await page.getByRole('button', { name: 'Search' }).click();
    await page.getByRole('link', { name: 'SAMPLE-1001' }).click();
    await page.waitForURL(new RegExp(`${practicePath}$`));
    assert.equal(await page.locator('article.card').count(), 2);
    for (const site of [original, backup]) assert.equal(await page.locator(`article[data-site="${site.haloGuid}"]`).count(), 1);
    assert.equal(await page.locator(`article.authoritative[data-site="${original.haloGuid}"]`).count(), 1);
    const card = await page.locator(`article[data-site="${backup.haloGuid}"]`).innerText();
    for (const label of ['Halo Link version', 'Last seen', 'Clock drift', 'Link', 'Database and machine', 'online']) assert.ok(card.includes(label), label);
    // The 24-hour strip of each site: the quarter-hour of the demo's start is marked, from the links' heartbeats.
    for (const site of [original, backup]) {
      const strip = page.locator(`article[data-site="${site.haloGuid}"] svg.strip`);
      await strip.locator('rect.on').first().waitFor();
      assert.equal(await strip.locator('rect').count(), 96);
    }
    await shot('practice');
    await assertAccessible(page, 'practice');
  });

  await t.test('a form post without the CSRF token is refused, from this page and from another site', async () => {
    const status = await page.evaluate(async ({ path, to }) => {
      const res = await fetch(`${path}/move`, { method: 'POST', body: new URLSearchParams({ to, reason: 'no token', epoch: '0', step: 'commit' }) });
      return { status: res.status, code: ((await res.json()) as { error: { code: string } }).error.code };
    }, { path: practicePath, to: backup.haloGuid });
    assert.deepEqual(status, { status: 403, code: 'csrf_failed' });
    // Another origin posting a form to the console: the SameSite=Strict cookie stays home, and there is no token.
    const evil = createServer((_req, res) => {
      res.setHeader('content-type', 'text/html');
      res.end(`<form id="f" method="post" action="${demo.facadeUrl}${practicePath}/move"><input name="to" value="${backup.haloGuid}"><input name="reason" value="csrf"><input name="epoch" value="0"><input name="step" value="commit"></form><script>f.submit()</script>`);
    });
    await new Promise<void>((resolve) => evil.listen(0, '127.0.0.1', resolve));
    t.after(() => { evil.closeAllConnections(); evil.close(); });
    const other = await browser.newPage();
    const answer = other.waitForResponse((r) => r.url().endsWith(`${practicePath}/move`));
    await other.goto(`http://127.0.0.1:${(evil.address() as { port: number }).port}/`);
    assert.equal((await answer).status(), 401);
    await other.close();
    const { practices } = await support('/practices?pmsId=SAMPLE-1001');
    assert.equal(practices[0]!.authoritative, original.haloGuid, 'authority did not move');
  });

  await t.test('move authority: reason, confirm step naming what integrators see, audit entry, 200 -> 403 on the old site', async () => {
    assert.equal(await query(original.haloGuid), 200);
    assert.equal(await query(backup.haloGuid), 403);
    const card = page.locator(`article[data-site="${backup.haloGuid}"]`);
    await card.getByLabel('Reason for making this site authoritative').fill('original server failed; backup restored');
    await card.getByRole('button', { name: 'Make authoritative…' }).click();
    await page.getByRole('heading', { name: 'Confirm the authority move' }).waitFor();
    const consequences = await page.locator('ul.consequences').innerText();
    assert.ok(consequences.includes(`${original.haloGuid}`) && consequences.includes('403 site_not_authoritative'), consequences);
    await shot('confirm');
    await assertAccessible(page, 'confirm');
    await page.getByRole('button', { name: 'Move authority' }).click();
    await page.getByRole('status').filter({ hasText: 'Authority moved' }).waitFor();
    const audit = await page.locator('#audit').innerText();
    assert.ok(audit.includes('authority.moved') && audit.includes('original server failed; backup restored') && audit.includes(demo.supportKey ? 'by ' : ''), audit);
    assert.equal(await page.locator(`article.authoritative[data-site="${backup.haloGuid}"]`).count(), 1);
    await shot('moved');
    await readmeShot('console', 760);
    // The facade drops cached authority on the registry's KV change; poll until it has (no timing asserted).
    let status = 0;
    for (let i = 0; i < 100 && (status = await query(original.haloGuid)) !== 403; i++) await new Promise((r) => setTimeout(r, 100));
    assert.equal(status, 403);
    // The pairing is with the practice, so the integrator's queries go on at the new authority without pairing again.
    assert.equal(await query(backup.haloGuid), 200);
  });

  await t.test('someone else moved it first: the conflict is shown, nothing overwritten; the page then updates live', async () => {
    const stale = page.locator(`article[data-site="${original.haloGuid}"]`);
    await stale.getByLabel('Reason for making this site authoritative').fill('move back');
    await stale.getByRole('button', { name: 'Make authoritative…' }).click();
    await page.getByRole('heading', { name: 'Confirm the authority move' }).waitFor();
    // Meanwhile, support elsewhere moves it (to the original) through the API.
    const { practices } = await support('/practices?pmsId=SAMPLE-1001');
    await support('/authority', { pmsType: 'sample', pmsId: 'SAMPLE-1001', to: original.haloGuid, reason: 'moved by another support user', expectedEpoch: practices[0]!.epoch });
    const answer = page.waitForResponse((r) => r.url().endsWith(`${practicePath}/move`));
    await page.getByRole('button', { name: 'Move authority' }).click();
    assert.equal((await answer).status(), 409);
    await page.getByRole('alert').filter({ hasText: 'someone else moved authority first' }).waitFor();
    assert.ok((await page.locator('#audit').innerText()).includes('moved by another support user'));
    await shot('conflict');
    // Live: another move through the API shows up on this page without a reload (server-sent events).
    await page.goto(`${demo.facadeUrl}${practicePath}`);
    await page.locator(`article.authoritative[data-site="${original.haloGuid}"]`).waitFor();
    const marker = await page.evaluate(() => { (globalThis as unknown as { marker: number }).marker = 1; return 1; });
    const now = await support('/practices?pmsId=SAMPLE-1001');
    await support('/authority', { pmsType: 'sample', pmsId: 'SAMPLE-1001', to: backup.haloGuid, reason: 'live update check', expectedEpoch: now.practices[0]!.epoch });
    await page.locator(`article.authoritative[data-site="${backup.haloGuid}"]`).waitFor();
    assert.equal(await page.evaluate(() => (globalThis as unknown as { marker?: number }).marker), marker, 'the page was not reloaded');
  });

  await t.test('links: update status as the link reports it; one-time enrolment token with its install line; integrators: PMS types and key slots', async () => {
    // Link 1's auto-updater rolled a bad version back: its status file rides on the link's next heartbeat.
    const { linkGuid: updated } = JSON.parse(readFileSync(join(dataDir, 'agents', 'link-1', 'state.json'), 'utf8')) as { linkGuid: string };
    writeFileSync(join(dataDir, 'agents', 'link-1', 'update-status.json'), JSON.stringify({ state: 'rolled-back', version: '1.4.2', previous: '1.4.2', failedVersion: '1.5.0', code: 'health_timeout', at: new Date().toISOString() }));
    const cell = (linkGuid: string) => page.locator('tr', { has: page.locator(`code:text-is("${linkGuid}")`) }).locator('[data-slot="update-status"]');
    const other = demo.databases.map((d) => d.linkGuid).find((g) => g !== updated)!;
    const reported = await eventually(async () => {
      await page.goto(`${demo.facadeUrl}/console/links`);
      const text = await cell(updated).innerText();
      return text.includes('rolled-back') ? text : undefined;
    }, 30_000, 500);
    for (const part of ['1.4.2', '1.5.0 failed', 'code health_timeout']) assert.ok(reported.includes(part), `${part} in ${reported}`);
    assert.equal(await cell(other).innerText(), 'not reported');
    assert.equal(await page.locator('tbody tr').count(), 2);
    await shot('links');
    await assertAccessible(page, 'links');
    await page.getByRole('button', { name: 'Issue a one-time enrolment token' }).click();
    const token = await page.locator('#token').innerText();
    assert.ok(token.length > 20);
    assert.ok((await page.locator('#install').innerText()).includes(token));
    await page.goto(`${demo.facadeUrl}/console/links`);
    assert.ok(!(await page.content()).includes(token), 'the token is not shown again');
    await shot('enrolment-token');
    await page.goto(`${demo.facadeUrl}/console/integrators`);
    const row = await page.locator('tbody tr').first().innerText();
    assert.ok(row.includes('demo') && row.includes('sample') && row.includes('slot 1: in use') && row.includes('slot 2: empty'), row);
    await assertAccessible(page, 'integrators');
  });

  await t.test('the portal: a wrong subscription key is refused; the queries just run are listed, metadata only', async () => {
    await page.goto(`${demo.facadeUrl}/portal`);
    await page.getByLabel('Subscription key').fill('wrong-key');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('alert').filter({ hasText: 'not valid' }).waitFor();
    await page.getByLabel('Subscription key').fill(demo.subscriptionKey);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(/\/portal$/);
    const recent = await page.locator('table.recent').innerText();
    for (const status of ['200', '403']) assert.ok(recent.includes(status), `status ${status} listed`);
    assert.ok(recent.includes('site_not_authoritative') && recent.includes(original.haloGuid) && recent.includes('reader'), recent);
    assert.ok(!recent.includes('SELECT') && !recent.includes('@patNum'), 'no query text or parameters');
    assert.equal(await page.locator('figure.chart svg rect.ok').count() > 0, true);
    assert.ok((await page.locator('#sites-title ~ table').innerText()).includes(backup.haloGuid));
    await shot('portal');
    await readmeShot('portal', 860);
    await assertAccessible(page, 'portal');
  });
  await t.test('webhooks: set from the console (secret once), delivered and dropped events in the portal, counted on /metrics, removed with a confirm', async () => {
    const receiver = await startWebhookReceiver();
    t.after(() => receiver.close());
    // The first event is taken, every later one refused with 410 (a 4xx: dropped at once, no retry).
    const answers = new Map<string, number>();
    receiver.setAnswer((id) => answers.get(id) ?? (answers.set(id, answers.size === 0 ? 200 : 410), answers.get(id)!));
    await page.goto(`${demo.facadeUrl}/console/integrators`);
    const slot = page.locator('tbody tr').first().locator('[data-slot="webhook-url"]');
    assert.ok((await slot.innerText()).includes('not configured'));
    const url = `${receiver.url}/hooks/{source}/{queryId}`;
    await slot.getByLabel('URL').fill(url);
    await page.getByRole('button', { name: 'Set webhook of demo' }).click();
    const secret = await page.locator('#webhook-secret').innerText();
    assert.match(secret, /^whsec_[A-Za-z0-9_-]{43}$/);
    receiver.setSecret(secret);
    assert.ok((await slot.innerText()).includes(url));
    await shot('webhook-set');
    await assertAccessible(page, 'webhook set');
    // The support API's GET reads the same: the URL, never the secret.
    const view = await support('/integrators/demo/webhook') as unknown as Record<string, string>;
    assert.equal(view.url, url);
    assert.ok(!JSON.stringify(view).includes(secret));
    await page.goto(`${demo.facadeUrl}/console/integrators`);
    assert.ok(!(await page.content()).includes(secret), 'the secret is not shown again');
    // A URL that is not one is refused on the page, with the reason.
    await slot.getByLabel('New URL (makes a new secret)').fill('ftp://example.com/hook');
    await page.getByRole('button', { name: 'Set webhook of demo' }).click();
    await page.getByRole('alert').filter({ hasText: 'must use https' }).waitFor();

    const { practices } = await support('/practices?pmsId=SAMPLE-1001');
    const site = practices[0]!.authoritative;
    const asyncQuery = async () => {
      const res = await fetch(`${demo.facadeUrl}/integrator/sites/${site}/queries/async`, {
        method: 'POST', headers: { 'content-type': 'application/json', 'ocp-apim-subscription-key': demo.subscriptionKey }, body: JSON.stringify(demoQueryBody()), dispatcher,
      });
      assert.equal(res.status, 201, await res.clone().text());
      return ((await res.json()) as { id: string }).id;
    };
    const delivered = await asyncQuery();
    await eventually(async () => receiver.received.find((r) => r.body.queryId === delivered), 30_000, 100);
    const dropped = await asyncQuery();
    await eventually(async () => receiver.received.find((r) => r.body.queryId === dropped), 30_000, 100);
    assert.ok(receiver.received.every((r) => r.signatureValid), 'signed with the secret the console showed');
    assert.equal(receiver.received.find((r) => r.body.queryId === delivered)!.path, `/hooks/async/${delivered}`);

    // The worker's /metrics counts them (prom-client, from the delivery's counters).
    const worker = await eventually(async () => {
      const text = await (await fetch(demo.metrics!.worker!)).text();
      return /halo_webhook_deliveries_total\{[^}]*outcome="dropped"[^}]*\} [1-9]/.test(text) ? text : undefined;
    }, 30_000, 200);
    assert.match(worker, /halo_webhook_deliveries_total\{[^}]*outcome="delivered"[^}]*\} [1-9]/);
    assert.match(worker, /halo_registered_ticks_total\{[^}]*outcome="run"[^}]*\} \d/);

    // The portal lists both deliveries (recorded by the worker in JetStream), metadata only.
    await page.goto(`${demo.facadeUrl}/portal`);
    const table = page.locator('[data-slot="webhook-deliveries"] table');
    const row = (queryId: string) => table.locator('tr', { has: page.locator(`code:text-is("${queryId}")`) });
    await eventually(async () => {
      await page.goto(`${demo.facadeUrl}/portal`);
      return (await row(dropped).count()) === 1 && (await row(dropped).innerText()).includes('dropped') ? true : undefined;
    }, 30_000, 500);
    const ok = await row(delivered).innerText();
    for (const part of ['async', site, 'HTTP 200', 'delivered', '1']) assert.ok(ok.includes(part), `${part} in ${ok}`);
    assert.ok((await row(dropped).innerText()).includes('HTTP 410'));
    assert.ok(!(await page.content()).includes(secret), 'the portal never shows the secret');
    await page.locator('#webhooks-title').scrollIntoViewIfNeeded();
    await shot('portal-webhooks');
    await assertAccessible(page, 'portal webhooks');

    // Removing asks first, names the URL; then nothing is configured and the support API has none.
    await page.goto(`${demo.facadeUrl}/console/integrators`);
    await page.getByRole('button', { name: 'Remove the webhook of demo' }).click();
    assert.ok((await page.locator('main').innerText()).includes(url));
    await assertAccessible(page, 'webhook remove confirm');
    assert.equal((await fetch(`${demo.facadeUrl}/support/integrators/demo/webhook`, { headers: { authorization: `Bearer ${demo.supportKey}` }, dispatcher })).status, 200, 'nothing removed before the confirm');
    await page.getByRole('button', { name: 'Remove the webhook now' }).click();
    await page.getByRole('status').filter({ hasText: 'is removed' }).waitFor();
    assert.ok((await slot.innerText()).includes('not configured'));
    assert.equal((await fetch(`${demo.facadeUrl}/support/integrators/demo/webhook`, { headers: { authorization: `Bearer ${demo.supportKey}` }, dispatcher })).status, 404);
    // Both changes are in the audit trail (registry verb support.webhookChanged): who, integrator, URL; never the secret.
    const { entries } = await support('/audit') as unknown as { entries: Array<{ action: string; who: string; integratorId?: string; url?: string }> };
    assert.ok(entries.some((e) => e.action === 'integrator.webhook_set' && e.integratorId === 'demo' && e.url === url && e.who === 'demo-support'), JSON.stringify(entries.slice(-3)));
    assert.ok(entries.some((e) => e.action === 'integrator.webhook_removed' && e.integratorId === 'demo' && e.who === 'demo-support'));
    assert.ok(!JSON.stringify(entries).includes(secret), 'the audit never holds the secret');
    // A removal without the CSRF token is refused.
    const forged = await page.evaluate(async () => (await fetch('/console/integrators/demo/webhook/remove', { method: 'POST', body: new URLSearchParams({ step: 'commit' }) })).status);
    assert.equal(forged, 403);
  });
  await t.test('integrators: rotating a key slot shows the new key once; it works at once, the other slot keeps working', async () => {
    const status = async (key: string) => {
      const res = await fetch(`${demo.facadeUrl}/integrator/sites?practiceManagementSiteId=SAMPLE-1001`, { headers: { 'ocp-apim-subscription-key': key }, dispatcher });
      await res.arrayBuffer();
      return res.status;
    };
    await page.goto(`${demo.facadeUrl}/console/integrators`);
    await page.getByRole('button', { name: 'Rotate slot 2 of demo' }).click();
    const key = await page.locator('#new-key').innerText();
    assert.match(key, /^[A-Za-z0-9_-]{43}$/);
    assert.ok((await page.locator('tbody tr').first().innerText()).includes('slot 2: in use'));
    await shot('rotated');
    assert.equal(await status(key), 200, 'the new key works');
    assert.equal(await status(demo.subscriptionKey), 200, 'the key in slot 1 still works');
    const { entries } = await support('/audit') as unknown as { entries: Array<{ action: string; who: string; integratorId?: string; slot?: number }> };
    assert.ok(entries.some((e) => e.action === 'integrator.key_rotated' && e.integratorId === 'demo' && e.slot === 2 && e.who === 'demo-support'), JSON.stringify(entries.slice(-3)));
    assert.ok(!JSON.stringify(entries).includes(key), 'the audit never holds the key');
    await page.goto(`${demo.facadeUrl}/console/integrators`);
    assert.ok(!(await page.content()).includes(key), 'the new key is not shown again');
    // Rotating slot 1 retires the demo's original key at once.
    await page.getByRole('button', { name: 'Rotate slot 1 of demo' }).click();
    // Slot 1 holds a key: a confirm step says it stops working at once.
    assert.ok((await page.locator('ul.consequences').innerText()).includes('401 unauthorized'));
    assert.equal(await status(demo.subscriptionKey), 200, 'nothing rotated before the confirm');
    await assertAccessible(page, 'rotate confirm');
    await page.getByRole('button', { name: 'Rotate slot 1 now' }).click();
    await page.locator('#new-key').waitFor();
    assert.equal(await status(demo.subscriptionKey), 401, 'the rotated-out key is refused');
    assert.equal(await status(key), 200);
    // A page for something that does not exist is a page too, with the error code.
    const res = await page.goto(`${demo.facadeUrl}/console/practices/sample/NO-SUCH-PRACTICE`);
    assert.equal(res?.status(), 404);
    await page.getByRole('alert').filter({ hasText: 'not_found' }).waitFor();
  });
  await t.test('live: a Halo Link that stops turns its site offline on an open page without a reload; revoke needs a reason', async () => {
    await page.goto(`${demo.facadeUrl}${practicePath}`);
    const backupCard = page.locator(`article[data-site="${backup.haloGuid}"]`);
    await backupCard.locator('.badge.online').waitFor();
    await page.evaluate(() => { (globalThis as unknown as { marker: number }).marker = 2; });
    // Agent 2 serves the backup; on SIGTERM its last heartbeat says it is stopping and the registry marks it offline.
    process.kill(demo.processes['agent-2']!, 'SIGTERM');
    await backupCard.locator('.badge.offline').waitFor();
    assert.equal(await page.evaluate(() => (globalThis as unknown as { marker?: number }).marker), 2, 'the page was not reloaded');
    await shot('offline');
    const link = demo.databases.find((d) => d.haloGuid === backup.haloGuid)!.linkGuid;
    await page.goto(`${demo.facadeUrl}/console/links`);
    const row = page.locator('tr', { has: page.locator(`code:text-is("${link}")`) });
    await row.getByLabel('Reason').fill('backup server retired');
    await row.getByRole('button', { name: 'Revoke credentials' }).click();
    await page.getByRole('status').filter({ hasText: `Link ${link} revoked` }).waitFor();
  });
});
