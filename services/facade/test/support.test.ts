import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  AppError, SupportAuditResult, SupportListResult, SupportMoveResult, SupportSitesResponse,
  type SiteView, type SupportAuditRequest, type SupportListRequest, type SupportMoveRequest,
} from '@halo/contracts';
import { bearerKey, parseSupportKeys, supportKeyAuthenticator, type SupportRegistry } from '../src/index.ts';
import { AUTH, KEY, SITE_ID, siteView, testApp } from './fakes.ts';

const SUPPORT_KEY = 'support-key-abcdefghijklmnopqrstuvwxyz';
const SUPPORT = { authorization: `Bearer ${SUPPORT_KEY}` };
const OTHER_SITE = '33333333-3333-4333-8333-333333333333';

/** In-memory SupportRegistry recording calls. */
class FakeSupportRegistry implements SupportRegistry {
  calls: Array<[string, unknown]> = [];
  moveError: Error | null = null;
  sitesOf: SiteView[] = [siteView(), siteView({ haloGuid: OTHER_SITE, authoritative: false })];

  async list(request: SupportListRequest) {
    this.calls.push(['list', request]);
    return { practices: [{ pmsType: 'sample', pmsId: 'PRAC-1', authoritative: SITE_ID, epoch: 1, since: '2026-01-01T00:00:00.000Z', sites: this.sitesOf }], links: [] };
  }

  async sites(request: { pmsId: string; pmsType?: string }) {
    this.calls.push(['sites', request]);
    return this.sitesOf;
  }

  async move(request: SupportMoveRequest) {
    this.calls.push(['move', request]);
    if (this.moveError) throw this.moveError;
    return {
      practice: { pmsType: request.pmsType, pmsId: request.pmsId, authoritative: request.to, epoch: 2, since: '2026-01-02T00:00:00.000Z', by: request.by, reason: request.reason, sites: this.sitesOf },
      audit: { action: 'authority.moved' as const, at: '2026-01-02T00:00:00.000Z', who: request.by, reason: request.reason, pmsType: request.pmsType, pmsId: request.pmsId, from: SITE_ID, to: request.to, epoch: 2 },
    };
  }

  async audit(request: SupportAuditRequest) {
    this.calls.push(['audit', request]);
    return { entries: [] };
  }
}

function supportApp() {
  const registry = new FakeSupportRegistry();
  const auth = supportKeyAuthenticator([{ supportUserId: 'alice', key: SUPPORT_KEY }]);
  const t = testApp({ support: { auth, registry } });
  return { ...t, registry };
}

test('support routes need a support key: none, an integrator key or a wrong key answer 401; a support key does not open /integrator', async (t) => {
  const { app, registry } = supportApp();
  t.after(() => app.close());
  for (const headers of [{}, { authorization: `Bearer ${KEY}` }, AUTH, { authorization: 'Bearer wrong' }, { authorization: SUPPORT_KEY }, { authorization: `Basic ${SUPPORT_KEY}` }]) {
    const res = await app.inject({ url: '/support/practices', headers });
    assert.equal(res.statusCode, 401, JSON.stringify(headers));
    assert.equal(res.json().error.code, 'unauthorized');
    assert.match(String(res.headers['www-authenticate']), /^Bearer/);
  }
  const move = await app.inject({ method: 'POST', url: '/support/authority', headers: AUTH, payload: { pmsType: 'sample', pmsId: 'PRAC-1', to: OTHER_SITE, reason: 'x' } });
  assert.equal(move.statusCode, 401);
  assert.equal(registry.calls.length, 0);
  const integrator = await app.inject({ url: '/integrator/sites?practiceManagementSiteId=PRAC-1', headers: SUPPORT });
  assert.equal(integrator.statusCode, 401);
  const unknownRoute = await app.inject({ url: '/support/nope' });
  assert.equal(unknownRoute.statusCode, 401);
});

test('support lists practices and sites with authority, availability, status, version and last seen', async (t) => {
  const { app, registry } = supportApp();
  t.after(() => app.close());
  const list = await app.inject({ url: '/support/practices?pmsId=PRAC-1', headers: SUPPORT });
  assert.equal(list.statusCode, 200);
  const body = SupportListResult.parse(list.json());
  assert.equal(body.practices[0]?.authoritative, SITE_ID);
  const sites = await app.inject({ url: '/support/sites?pmsId=PRAC-1&pmsType=sample', headers: SUPPORT });
  assert.equal(sites.statusCode, 200);
  const parsed = SupportSitesResponse.parse(sites.json());
  assert.deepEqual(parsed.sites.map((s) => [s.haloGuid, s.authoritative, s.availability, s.status, s.haloLinkVersion]), [
    [SITE_ID, true, 'online', 'active', '0.1.0'], [OTHER_SITE, false, 'online', 'active', '0.1.0'],
  ]);
  // Support sees the link behind each site (integrators never do).
  assert.match(sites.body, /linkGuid/);
  const missing = await app.inject({ url: '/support/sites', headers: SUPPORT });
  assert.equal(missing.statusCode, 400);
  assert.deepEqual(registry.calls, [['list', { pmsId: 'PRAC-1' }], ['sites', { pmsId: 'PRAC-1', pmsType: 'sample' }]]);
});

test('a move needs a reason; who is the authenticated support user, never the body', async (t) => {
  const { app, registry } = supportApp();
  t.after(() => app.close());
  const body = { pmsType: 'sample', pmsId: 'PRAC-1', to: OTHER_SITE, reason: 'restored from backup' };
  for (const bad of [{ ...body, reason: undefined }, { ...body, reason: '  ' }, { ...body, to: 'nope' }, { ...body, by: 'mallory' }]) {
    const res = await app.inject({ method: 'POST', url: '/support/authority', headers: SUPPORT, payload: bad });
    assert.equal(res.statusCode, 400, JSON.stringify(bad));
    assert.equal(res.json().error.code, 'bad_request');
  }
  assert.equal(registry.calls.length, 0);
  const res = await app.inject({ method: 'POST', url: '/support/authority', headers: SUPPORT, payload: { ...body, expectedEpoch: 1 } });
  assert.equal(res.statusCode, 200);
  const moved = SupportMoveResult.parse(res.json());
  assert.equal(moved.audit.who, 'alice');
  assert.deepEqual(registry.calls, [['move', { ...body, expectedEpoch: 1, by: 'alice' }]]);

  registry.moveError = new AppError('conflict', 'authority changed while this move was being made; look again and retry');
  const conflict = await app.inject({ method: 'POST', url: '/support/authority', headers: SUPPORT, payload: body });
  assert.equal(conflict.statusCode, 409);
  assert.equal(conflict.json().error.code, 'conflict');
});

test('the audit trail is read with optional practice filter and limit', async (t) => {
  const { app, registry } = supportApp();
  t.after(() => app.close());
  const res = await app.inject({ url: '/support/audit?pmsId=PRAC-1&limit=5', headers: SUPPORT });
  assert.equal(res.statusCode, 200);
  assert.deepEqual(SupportAuditResult.parse(res.json()), { entries: [] });
  assert.deepEqual(registry.calls, [['audit', { pmsId: 'PRAC-1', limit: 5 }]]);
  const bad = await app.inject({ url: '/support/audit?limit=0', headers: SUPPORT });
  assert.equal(bad.statusCode, 400);
});

test('support keys parse as supportUserId:key and bearer headers as one token', () => {
  assert.deepEqual(parseSupportKeys(['alice:k1', ' bob : k2 ']), [{ supportUserId: 'alice', key: 'k1' }, { supportUserId: 'bob', key: 'k2' }]);
  assert.throws(() => parseSupportKeys(['nokey']), /entry 1/);
  assert.throws(() => parseSupportKeys(['a b:k']), /entry 1/);
  assert.equal(bearerKey('Bearer abc'), 'abc');
  assert.equal(bearerKey('bearer   abc '), 'abc');
  assert.equal(bearerKey('Bearer a b'), undefined);
  assert.equal(bearerKey(undefined), undefined);
});
