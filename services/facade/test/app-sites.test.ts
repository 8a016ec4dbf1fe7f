import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HealthResponse, HealthUnavailableResponse, SiteForIntegrator, SitesResponse } from '@halo/contracts';
import type { HealthReport } from '../src/index.ts';
import { AUTH, SITE_ID, siteView, testApp } from './fakes.ts';

test('GET /integrator/sites maps registry views to Halo-shaped sites', async (t) => {
  const { app, directory } = testApp();
  t.after(() => app.close());
  const other = '44444444-4444-4444-8444-444444444444';
  directory.sites = [siteView(), siteView({ haloGuid: other, authoritative: false, availability: 'offline', practiceManagementVersion: undefined })];
  const res = await app.inject({ url: '/integrator/sites?practiceManagementSiteId=PRAC-1', headers: AUTH });
  assert.equal(res.statusCode, 200);
  const body = SitesResponse.parse(res.json());
  assert.deepEqual(body.sites[0], {
    id: SITE_ID,
    pmsType: 'sample',
    availability: 'online',
    status: 'active',
    haloLinkVersion: '0.1.0',
    enrichedAt: '2026-01-01T00:00:00.000Z',
    catalogue: [{ name: 'main', isDefault: true }],
    practiceMetadata: { pmsType: 'sample', practiceName: 'Sample Dental Surgery', practiceManagementSiteId: 'PRAC-1', practiceManagementVersion: '1.2.3' },
    // Halo's deprecated top-level fields.
    name: 'Sample Dental Surgery',
    practiceManagementSiteId: 'PRAC-1',
    practiceManagementName: 'Sample Dental',
    practiceManagementVersion: '1.2.3',
    createdAt: '2026-01-01T00:00:00.000Z',
    authoritative: true,
  });
  assert.equal(body.sites[1]?.authoritative, false);
  assert.equal(body.sites[1]?.availability, 'offline');
  assert.equal('practiceManagementVersion' in (body.sites[1]?.practiceMetadata ?? {}), false);
  // Registry internals stay inside.
  assert.doesNotMatch(res.body, /linkGuid|databaseIdentity|sqlite/);
});

test('pmsType and practiceManagementName take Halo\'s values for Halo\'s PMS types; GET /integrator/sites/{siteId} answers the site unwrapped', async (t) => {
  const { app, directory } = testApp();
  t.after(() => app.close());
  directory.sites = [siteView({ pmsType: 'bp', lastSeen: '2026-01-02T00:00:00.000Z' })];
  const res = await app.inject({ url: `/integrator/sites/${SITE_ID}`, headers: AUTH });
  assert.equal(res.statusCode, 200);
  const site = SiteForIntegrator.parse(res.json());
  assert.equal(site.id, SITE_ID);
  assert.equal(site.pmsType, 'BestPractice');
  assert.equal(site.practiceMetadata.pmsType, 'BestPractice');
  assert.equal(site.practiceManagementName, 'Best Practice');
  assert.equal(site.heartbeatTimestampUTC, '2026-01-02T00:00:00.000Z');
  assert.equal(site.clientTimestampUTC, '2026-01-02T00:00:00.000Z');
  for (const name of ['BestPractice', 'Best%20Practice', 'bp']) {
    const found = await app.inject({ url: `/integrator/sites?practiceManagementSiteId=PRAC-1&practiceManagementName=${name}`, headers: AUTH });
    assert.equal(SitesResponse.parse(found.json()).sites[0]?.pmsType, 'BestPractice');
  }
  const unknown = await app.inject({ url: '/integrator/sites/44444444-4444-4444-8444-444444444444', headers: AUTH });
  assert.equal(unknown.statusCode, 404);
  assert.equal(unknown.json<{ error: { code: string } }>().error.code, 'site_not_found');
  assert.equal((await app.inject({ url: '/integrator/sites/not-a-guid', headers: AUTH })).statusCode, 404);
});

test('practiceManagementName accepts a PMS type code or its display name', async (t) => {
  const { app, directory } = testApp();
  t.after(() => app.close());
  for (const name of ['sample', 'Sample%20Dental', 'SAMPLE%20DENTAL']) {
    const res = await app.inject({ url: `/integrator/sites?practiceManagementSiteId=PRAC-1&practiceManagementName=${name}`, headers: AUTH });
    assert.equal(res.statusCode, 200);
    assert.equal(SitesResponse.parse(res.json()).sites.length, 1);
  }
  const bp = await app.inject({ url: '/integrator/sites?practiceManagementSiteId=PRAC-1&practiceManagementName=Best%20Practice', headers: AUTH });
  assert.deepEqual(bp.json(), { sites: [] });
  assert.deepEqual(directory.lookups, [
    { pmsId: 'PRAC-1', pmsType: 'sample' }, { pmsId: 'PRAC-1', pmsType: 'sample' }, { pmsId: 'PRAC-1', pmsType: 'sample' }, { pmsId: 'PRAC-1', pmsType: 'bp' },
  ]);
  await app.inject({ url: '/integrator/sites?practiceManagementSiteId=PRAC-2', headers: AUTH });
  assert.deepEqual(directory.lookups.at(-1), { pmsId: 'PRAC-2' });
});

test('GET /health needs no key: 200 while queries can be served (degraded with one of registry and JetStream down), else 503 in the error envelope', async (t) => {
  let report: HealthReport = { nats: 'connected', registry: 'ok', jetstream: 'ok' };
  const { app } = testApp({ health: async () => report });
  t.after(() => app.close());
  const ok = await app.inject({ url: '/health' });
  assert.equal(ok.statusCode, 200);
  assert.deepEqual(HealthResponse.parse(ok.json()), { status: 'ok', nats: 'connected', registry: 'ok', jetstream: 'ok', version: '9.9.9' });
  for (const down of [{ registry: 'unavailable' }, { jetstream: 'unavailable' }] as const) {
    report = { nats: 'connected', registry: 'ok', jetstream: 'ok', ...down };
    const degraded = await app.inject({ url: '/health' });
    assert.equal(degraded.statusCode, 200);
    assert.deepEqual(degraded.json(), { status: 'degraded', ...report, version: '9.9.9' });
  }
  const unavailable: Array<[HealthReport, string]> = [
    [{ nats: 'reconnecting', registry: 'unavailable', jetstream: 'unavailable' }, 'this replica cannot serve queries: NATS is reconnecting'],
    [{ nats: 'connected', registry: 'unavailable', jetstream: 'unavailable' }, 'this replica cannot serve queries: neither the registry nor JetStream answers'],
  ];
  for (const [down, message] of unavailable) {
    report = down;
    const res = await app.inject({ url: '/health' });
    assert.equal(res.statusCode, 503);
    assert.deepEqual(HealthUnavailableResponse.parse(res.json()), { error: { status: 503, statusText: 'Service Unavailable', code: 'service_unavailable', message }, ...down, version: '9.9.9' });
  }
});

test('OpenAPI 3 at /docs/json describes the routes from the zod schemas; /docs serves the UI', async (t) => {
  const { app } = testApp();
  t.after(() => app.close());
  const res = await app.inject({ url: '/docs/json' });
  assert.equal(res.statusCode, 200);
  const doc = res.json() as {
    openapi: string;
    paths: Record<string, Record<string, {
      security?: unknown;
      parameters?: { name: string; in: string; required?: boolean }[];
      requestBody?: { content: Record<string, { schema: { properties: Record<string, unknown>; required?: string[]; additionalProperties?: boolean } }> };
      responses: Record<string, { content?: Record<string, { schema: { properties?: Record<string, unknown> } }> }>;
    }>>;
    components: { securitySchemes: Record<string, { type: string; in: string; name: string }> };
  };
  assert.match(doc.openapi, /^3\./);
  assert.deepEqual(Object.keys(doc.paths).sort(), ['/health', '/health/live', '/health/ready', '/integrator/pair-site', '/integrator/pairSite', '/integrator/sites', '/integrator/sites/{siteId}', '/integrator/sites/{siteId}/queries/immediate']);
  assert.deepEqual(doc.components.securitySchemes.subscriptionKey, { type: 'apiKey', in: 'header', name: 'Ocp-Apim-Subscription-Key' });

  const sites = doc.paths['/integrator/sites']?.get;
  assert.ok(sites);
  assert.deepEqual(sites.security, [{ subscriptionKey: [] }]);
  assert.deepEqual(sites.parameters?.map((p) => [p.name, p.in, p.required]), [['practiceManagementSiteId', 'query', true], ['practiceManagementName', 'query', false]]);
  assert.ok(sites.responses['200']?.content?.['application/json']?.schema.properties?.sites);
  assert.ok(sites.responses['401']);

  const immediate = doc.paths['/integrator/sites/{siteId}/queries/immediate']?.post;
  assert.ok(immediate);
  const body = immediate.requestBody?.content['application/json']?.schema;
  assert.ok(body);
  assert.deepEqual(Object.keys(body.properties).sort(), ['catalogue', 'command', 'maxTimeInQueue']);
  assert.deepEqual(body.required, ['command']);
  assert.equal(body.additionalProperties, false);
  assert.ok(immediate.parameters?.some((p) => p.name === 'siteId' && p.in === 'path'));
  assert.ok(immediate.parameters?.some((p) => p.name === 'format' && p.in === 'query'));
  for (const status of ['200', '400', '401', '403', '404', '413', '503', '504']) assert.ok(immediate.responses[status], status);
  assert.ok(immediate.responses['403']?.content?.['application/json']?.schema.properties?.error);

  const ui = await app.inject({ url: '/docs' });
  assert.equal(ui.statusCode, 200);
  assert.match(ui.body, /swagger/i);
});

test('with pairings, queries of a site whose practice the integrator has not paired with are 403 site_not_paired; site reads are not', async (t) => {
  const paired = new Set<string>();
  const { app, queries } = testApp({ pairings: { isPaired: async (integratorId, site) => paired.has(`${integratorId}/${site.pmsType}/${site.pmsId}`) } });
  t.after(() => app.close());
  const query = () => app.inject({ method: 'POST', url: `/integrator/sites/${SITE_ID}/queries/immediate`, headers: AUTH, payload: { command: { text: 'SELECT 1' } } });
  const refused = await query();
  assert.equal(refused.statusCode, 403);
  assert.deepEqual(refused.json(), { error: { status: 403, statusText: 'Forbidden', code: 'site_not_paired', message: 'pair with this site first: POST /integrator/pair-site' } });
  assert.equal(queries.calls.length, 0);
  assert.equal((await app.inject({ url: `/integrator/sites/${SITE_ID}`, headers: AUTH })).statusCode, 200);
  assert.equal((await app.inject({ url: '/integrator/sites?practiceManagementSiteId=PRAC-1', headers: AUTH })).statusCode, 200);
  const site = (await app.inject({ url: `/integrator/sites/${SITE_ID}`, headers: AUTH })).json() as { practiceMetadata: { practiceManagementSiteId: string } };
  paired.add(`acme/sample/${site.practiceMetadata.practiceManagementSiteId}`);
  assert.equal((await query()).statusCode, 200);
});
