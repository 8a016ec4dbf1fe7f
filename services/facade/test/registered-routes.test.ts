import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Ajv } from 'ajv';
import { AppError, type RegisteredQueryRecord, type RegisteredQueryResult, type SupportWebhookSet, type SupportWebhookView } from '@halo/contracts';
import { supportKeyAuthenticator, type RegisteredQueryStore, type WebhookAdmin } from '../src/index.ts';
import { AUTH, SITE_ID, testApp } from './fakes.ts';

/** In-memory RegisteredQueryStore (the JetStream one is covered end to end in test/e2e/registered-queries.test.ts). */
class MemoryRegistered implements RegisteredQueryStore {
  readonly minFrequencySeconds = 60;
  readonly records = new Map<string, RegisteredQueryRecord>();
  async create(record: RegisteredQueryRecord) {
    this.records.set(record.id, record);
    return record;
  }
  async list(siteId: string) {
    return [...this.records.values()].filter((r) => r.siteId === siteId);
  }
  async get(siteId: string, id: string) {
    const r = this.records.get(id);
    return r && r.siteId === siteId ? r : null;
  }
  async cancel(siteId: string, id: string) {
    const r = await this.get(siteId, id);
    if (r && r.status !== 'enabled') throw new AppError('query_finished', 'ended');
    if (r) r.status = 'cancelled';
    return r;
  }
  async result(): Promise<RegisteredQueryResult | null> {
    return null;
  }
}

class MemoryWebhooks implements WebhookAdmin {
  readonly urls = new Map<string, SupportWebhookView>();
  async set(integratorId: string, url: string, by: string): Promise<SupportWebhookSet> {
    const view = { integratorId, url, updatedAt: '2026-01-01T00:00:00.000Z', updatedBy: by };
    this.urls.set(integratorId, view);
    return { ...view, secret: 'whsec_x' };
  }
  async get(integratorId: string) {
    return this.urls.get(integratorId) ?? null;
  }
  async delete(integratorId: string) {
    return this.urls.delete(integratorId);
  }
}

const BASE = `/integrator/sites/${SITE_ID}/queries/registered`;
const BODY = { name: 'Test', registeredQueryType: 'query', frequency: 60, duration: 120, registerCommand: { command: { text: 'SELECT 1' } } };

function app() {
  const store = new MemoryRegistered();
  const support = { auth: supportKeyAuthenticator([{ supportUserId: 'alice', key: 'k'.repeat(40) }]), registry: {} as never, webhooks: new MemoryWebhooks() };
  return { store, ...testApp({ registered: store, support }) };
}

test('registered query routes: 202 {id}, Halo view, list of enabled ones, 204 cancel, 409 results before a run', async (t) => {
  const { app: server, store } = app();
  t.after(() => server.close());
  const created = await server.inject({ method: 'POST', url: BASE, headers: AUTH, payload: BODY });
  assert.equal(created.statusCode, 202);
  const { id } = created.json() as { id: string };
  assert.deepEqual(Object.keys(created.json()), ['id']);
  assert.equal(store.records.get(id)?.integratorId, 'acme');
  const view = (await server.inject({ url: `${BASE}/${id}`, headers: AUTH })).json() as Record<string, unknown>;
  assert.deepEqual(Object.keys(view).sort(), ['createdAt', 'duration', 'frequency', 'id', 'metrics', 'name', 'registeredQueryType', 'status']);
  assert.equal(JSON.stringify(view).includes('SELECT'), false, 'the command is never answered');
  assert.equal((await server.inject({ url: `${BASE}/${id}/results`, headers: AUTH })).json().error.code, 'query_not_ready');
  const del = await server.inject({ method: 'DELETE', url: `${BASE}/${id}`, headers: AUTH });
  assert.equal(del.statusCode, 204);
  assert.equal(del.body, '');
  assert.deepEqual((await server.inject({ url: BASE, headers: AUTH })).json(), { registeredQueries: [] });
  assert.equal((await server.inject({ method: 'DELETE', url: `${BASE}/${id}`, headers: AUTH })).statusCode, 409);
  assert.equal((await server.inject({ url: `${BASE}/not-a-guid`, headers: AUTH })).statusCode, 404);
});

test('frequency below the operator minimum, duration over 24 h and a missing type are 400', async (t) => {
  const { app: server } = app();
  t.after(() => server.close());
  for (const payload of [{ ...BODY, frequency: 59 }, { ...BODY, duration: 86_401 }, { ...BODY, registeredQueryType: undefined }]) {
    const res = await server.inject({ method: 'POST', url: BASE, headers: AUTH, payload });
    assert.equal(res.statusCode, 400, JSON.stringify(payload));
    assert.equal(res.json().error.code, 'bad_request');
  }
  // Halo's default frequency (60 s) when the body leaves it out.
  const { frequency: _f, ...noFrequency } = BODY;
  assert.equal((await server.inject({ method: 'POST', url: BASE, headers: AUTH, payload: noFrequency })).statusCode, 202);
});

test('/docs/json describes registered queries and support webhooks; Halo\'s own example validates against our schema', async (t) => {
  const { app: server } = app();
  t.after(() => server.close());
  const doc = (await server.inject({ url: '/docs/json' })).json() as { paths: Record<string, Record<string, any>> };
  for (const [path, methods] of Object.entries({
    '/integrator/sites/{siteId}/queries/registered': ['get', 'post'],
    '/integrator/sites/{siteId}/queries/registered/{queryId}': ['delete', 'get'],
    '/integrator/sites/{siteId}/queries/registered/{queryId}/results': ['get'],
    '/support/integrators/{integratorId}/webhook': ['delete', 'get', 'put'],
  })) assert.deepEqual(Object.keys(doc.paths[path] ?? {}).sort(), methods, path);
  const post = doc.paths['/integrator/sites/{siteId}/queries/registered']!.post;
  assert.deepEqual(post.requestBody.content['application/json'].schema.required.sort(), ['duration', 'name', 'registerCommand', 'registeredQueryType']);
  // OpenAPI 3.0 keywords (nullable, example) are not JSON Schema's: ajv is told to let them be.
  const ajv = new Ajv({ strict: false });
  const view = ajv.compile(doc.paths['/integrator/sites/{siteId}/queries/registered/{queryId}']!.get.responses['200'].content['application/json'].schema);
  // "Successful ongoing query", from Halo's published integrator OpenAPI (26.619).
  const haloExample = {
    id: 'd8d667d9-1234-abcd-56ef-1234567890ab', name: 'Test', registeredQueryType: 'query', status: 'enabled', frequency: 60, duration: 120,
    createdAt: '2025-05-27T05:23:40.983Z', lastHash: 'dOFA...',
    metrics: { lastExecutionDuration: 15, executionSucceededCount: 1, executionFailedCount: 0, resultSizeSum: 8, requestSize: 180, lastSucceededAt: '2025-05-27T05:23:46.836Z' },
  };
  assert.ok(view(haloExample), JSON.stringify(view.errors));
  const result = ajv.compile(doc.paths['/integrator/sites/{siteId}/queries/registered/{queryId}/results']!.get.responses['200'].content['application/json'].schema);
  assert.ok(result({ data: 'e2lk', parameters: null, rows: 12, size: 25 }), JSON.stringify(result.errors));
  const put = doc.paths['/support/integrators/{integratorId}/webhook']!.put;
  assert.ok(put.responses['200'].content['application/json'].schema.properties.secret);
  assert.equal(doc.paths['/support/integrators/{integratorId}/webhook']!.get.responses['200'].content['application/json'].schema.properties.secret, undefined);
});

test('support webhook routes need a support key; GET never shows the secret', async (t) => {
  const { app: server } = app();
  t.after(() => server.close());
  const bearer = { authorization: `Bearer ${'k'.repeat(40)}` };
  assert.equal((await server.inject({ method: 'PUT', url: '/support/integrators/acme/webhook', payload: { url: 'https://example.com' } })).statusCode, 401);
  const set = await server.inject({ method: 'PUT', url: '/support/integrators/acme/webhook', headers: bearer, payload: { url: 'https://example.com' } });
  assert.equal(set.json().secret, 'whsec_x');
  const got = await server.inject({ url: '/support/integrators/acme/webhook', headers: bearer });
  assert.deepEqual(Object.keys(got.json()).sort(), ['integratorId', 'updatedAt', 'updatedBy', 'url']);
  assert.equal((await server.inject({ url: '/support/integrators/bad%20id/webhook', headers: bearer })).statusCode, 400);
  assert.equal((await server.inject({ method: 'DELETE', url: '/support/integrators/acme/webhook', headers: bearer })).statusCode, 204);
  assert.equal((await server.inject({ method: 'DELETE', url: '/support/integrators/acme/webhook', headers: bearer })).statusCode, 404);
});
