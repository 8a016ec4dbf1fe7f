// Dependency outages as integrators and load balancers see them: with no registry replica answering, the facade
// still answers queries and lookups (from the registry's buckets, which outlive the process); `/health` names the
// dependency that is down; with the hub down, async status and cancel answer 503 at once instead of 500 after 5 s.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { SiteRequest, SiteResult, subjects } from '@halo/contracts';
import { createLogger } from '@halo/log';
import { connectNats, requestJson, type NatsConnection } from '@halo/messaging';
import { createSampleDatabase } from '@halo/sample-practice';
import { cleanupStack, launchHub } from '@halo/testkit';
import { startRegistry, type Registry } from '@halo/registry';
import { startFacade } from '@halo/facade';
import { AgentConfig, startAgent } from '@halo/agent';
import { eventually, startAsyncTestSystem } from '../support/async-system.ts';
import { SUBSCRIPTION_KEY } from '../support/system.ts';
import { resultRows } from '../support/halo-result.ts';

type Json = Record<string, any>;

const SUPPORT_KEY = 'support-key-0123456789abcdefghijklmnopqrstuvwxyz';
const COUNT = { command: { text: 'SELECT count(*) AS n FROM patient' } };
const QUERIES = 20;

async function json(res: Response): Promise<Json> {
  return (await res.json()) as Json;
}

test('with no registry replica answering, queries and lookups are answered from the registry buckets; /health says so', async (t) => {
  const defer = cleanupStack(t);
  const log = createLogger({ name: 'registry-outage', level: 'silent' });
  const dir = mkdtempSync(join(tmpdir(), 'halo-registry-outage-'));
  defer(() => rmSync(dir, { recursive: true, force: true }));
  const hub = await launchHub({ dir: join(dir, 'hub') });
  defer(() => hub.close());
  const conn = async (name: string): Promise<NatsConnection> => {
    const nc = await connectNats({ servers: hub.clientUrl, name, log });
    defer(() => nc.close());
    return nc;
  };
  /** A registry replica on its own connection; stop() drops the connection first, as a crash would. */
  const registryReplica = async (name: string): Promise<{ stop(): Promise<void> }> => {
    const nc = await connectNats({ servers: hub.clientUrl, name, log });
    let registry: Registry | undefined = await startRegistry({ nc, log, env: 'production' });
    const stop = async () => {
      if (!nc.isClosed()) await nc.close();
      await registry?.close();
      registry = undefined;
    };
    defer(stop);
    return { stop };
  };
  const registry = await registryReplica('registry-1');
  /** A facade replica with its own connection and cache TTL; `call` goes to it with integrator and support keys. */
  const facadeReplica = async (name: string, cacheTtlMs: number) => {
    const facade = await startFacade({ requirePairing: false,
      nc: await conn(name), port: 0, host: '127.0.0.1', log, cacheTtlMs, async: false,
      keys: [{ integratorId: 'test', key: SUBSCRIPTION_KEY }], supportKeys: [{ supportUserId: 'alice', key: SUPPORT_KEY }],
    });
    defer(() => facade.close());
    const call = (path: string, init: RequestInit = {}) => fetch(`${facade.url}${path}`, {
      ...init, headers: { 'content-type': 'application/json', 'ocp-apim-subscription-key': SUBSCRIPTION_KEY, authorization: `Bearer ${SUPPORT_KEY}` },
    });
    return {
      call,
      health: () => fetch(`${facade.url}/health`),
      query: (siteId: string) => call(`/integrator/sites/${siteId}/queries/immediate`, { method: 'POST', body: JSON.stringify(COUNT) }),
      lookup: async () => (await json(await call('/integrator/sites?practiceManagementSiteId=PMS-OUTAGE-1'))).sites as Json[],
    };
  };
  // No cache at all: every request needs an answer about the site now, so no cached entry can hide the outage.
  const uncached = await facadeReplica('facade-uncached', 0);
  // A long cache TTL: once the registry is gone, only the KV watch and the buckets can keep authority fresh.
  const cached = await facadeReplica('facade-cached', 60_000);

  const a = join(dir, 'practice-a.db');
  createSampleDatabase(a, { pmsId: 'PMS-OUTAGE-1', practiceName: 'Harbourside Dental', patients: 30 });
  const copy = join(dir, 'practice-a-copy.db');
  copyFileSync(a, copy);
  const agent = async (name: string, path: string) => {
    const config = AgentConfig.parse({ stateDir: join(dir, 'agents', name), hubLeafUrls: [hub.leafUrl], heartbeatSeconds: 1, databases: [{ name, engine: 'sqlite', path, profile: 'sample' }] });
    const running = await startAgent({ config, log });
    defer(() => running.close());
    return running.sites[0]!.haloGuid;
  };
  const original = await agent('a', a);
  const backup = await agent('a-copy', copy);

  for (const facade of [uncached, cached]) {
    assert.equal((await facade.query(original)).status, 200);
    assert.equal((await facade.query(backup)).status, 403);
  }
  await t.test('/health with everything up: 200 ok', async () => {
    const healthy = await uncached.health();
    assert.equal(healthy.status, 200);
    assert.deepEqual(await json(healthy), { status: 'ok', nats: 'connected', registry: 'ok', jetstream: 'ok', version: '0.1.0' });
  });

  await registry.stop();
  // Nobody serves the registry's subjects any more (the hub has dropped the replica's interest).
  const probe = await conn('probe');
  await eventually(async () => requestJson(probe, subjects.registry('site'), { haloGuid: original } satisfies SiteRequest, SiteResult, { timeoutMs: 500, noResponders: 'registry_unavailable' })
    .then(() => false, (err: unknown) => (err as { code?: string }).code === 'registry_unavailable'));

  await t.test('immediate queries to the authoritative site are answered', async (st) => {
    const statuses = [];
    for (let i = 0; i < QUERIES; i++) {
      const res = await uncached.query(original);
      const body = await json(res);
      statuses.push(res.status === 200 ? 200 : `${res.status} ${body.error?.code}`);
    }
    const answered = statuses.filter((s) => s === 200).length;
    st.diagnostic(`registry down: ${answered}/${QUERIES} immediate queries answered 200 (${Math.round((100 * answered) / QUERIES)} %); others: ${JSON.stringify(statuses.filter((s) => s !== 200).slice(0, 3))}`);
    assert.equal(answered, QUERIES);
  });

  await t.test('the sites lookup, the non-authoritative site and an unknown site answer as with the registry up', async () => {
    assert.deepEqual((await uncached.lookup()).map((s) => [s.id, s.authoritative, s.status]), [[original, true, 'active'], [backup, false, 'active']]);
    const refused = await uncached.query(backup);
    assert.equal(refused.status, 403);
    assert.equal((await json(refused)).error.code, 'site_not_authoritative');
    const unknown = await uncached.query(randomUUID());
    assert.equal(unknown.status, 404);
    assert.equal((await json(unknown)).error.code, 'site_not_found');
  });

  await t.test('/health: 200 degraded, naming the registry as down (queries are still served)', async () => {
    const health = await eventually(async () => {
      const res = await uncached.health();
      const body = await json(res);
      return body.registry === 'unavailable' ? { status: res.status, body } : undefined;
    });
    assert.equal(health.status, 200);
    assert.deepEqual(health.body, { status: 'degraded', nats: 'connected', registry: 'unavailable', jetstream: 'ok', version: '0.1.0' });
  });

  await t.test('an authority move made by a short-lived replica is followed by both replicas; the old site is refused', async () => {
    const mover = await registryReplica('registry-2');
    const moved = await cached.call('/support/authority', {
      method: 'POST', body: JSON.stringify({ pmsType: 'sample', pmsId: 'PMS-OUTAGE-1', to: backup, reason: 'the copy is the live database', expectedEpoch: 1 }),
    });
    assert.equal(moved.status, 200);
    await mover.stop();
    for (const facade of [uncached, cached]) {
      // The cached replica holds both sites for 60 s from before the move: only the watch and the buckets can say otherwise.
      await eventually(async () => (await facade.query(backup)).status === 200 && (await facade.query(original)).status === 403, 10_000, 25);
      const old = await facade.query(original);
      assert.equal(old.status, 403);
      assert.equal((await json(old)).error.code, 'site_not_authoritative');
      assert.deepEqual(resultRows(await json(await facade.query(backup))), [{ n: 30 }]);
      assert.deepEqual((await facade.lookup()).map((s) => [s.id, s.authoritative]), [[backup, true], [original, false]]);
    }
  });
});

test('with the hub down, async status, batch status and cancel answer 503 service_unavailable at once', async (t) => {
  // A long site cache: the immediate query below finds its site cached and must not wait for its deadline.
  const sys = await startAsyncTestSystem({ startWorker: false, cacheTtlMs: 120_000 });
  t.after(() => sys.close());
  const agent = await sys.startAgent('link-1', [{ name: 'a', path: sys.sampleDatabase('practice-a', 'PMS-HUBDOWN-1', 20) }]);
  const siteId = agent.sites[0]!.haloGuid;
  const submitted = await sys.call(`/integrator/sites/${siteId}/queries/async`, { method: 'POST', body: JSON.stringify(COUNT) });
  assert.equal(submitted.status, 201);
  const id = (await json(submitted)).id as string;
  assert.equal((await sys.call(`/integrator/sites/${siteId}/queries/${id}`)).status, 200);

  sys.hub.server.crash();
  await t.test('/health: 503 service_unavailable once the facade has seen its connection drop', async () => {
    const health = await eventually(async () => {
      const res = await fetch(`${sys.facade().url}/health`);
      const body = await json(res);
      return body.nats !== 'connected' ? { status: res.status, body } : undefined;
    });
    assert.equal(health.status, 503);
    assert.deepEqual(health.body, {
      error: { status: 503, statusText: 'Service Unavailable', code: 'service_unavailable', message: `this replica cannot serve queries: NATS is ${health.body.nats}` },
      nats: health.body.nats, registry: 'unavailable', jetstream: 'unavailable', version: '0.1.0',
    });
  });

  const requests: Array<[string, string, RequestInit]> = [
    ['GET status', `/integrator/sites/${siteId}/queries/${id}`, {}],
    ['POST batch status', `/integrator/sites/${siteId}/queries/status`, { method: 'POST', body: JSON.stringify({ queryIds: [id] }) }],
    ['DELETE', `/integrator/sites/${siteId}/queries/${id}`, { method: 'DELETE' }],
    // The site may still be in the facade's cache: the query must not wait for its deadline either.
    ['POST immediate', `/integrator/sites/${siteId}/queries/immediate`, { method: 'POST', body: JSON.stringify(COUNT) }],
  ];
  for (const [name, path, init] of requests) {
    await t.test(name, async (st) => {
      const started = performance.now();
      const res = await sys.call(path, init);
      const body = await json(res);
      st.diagnostic(`hub down: ${name} answered ${res.status} ${body.error?.code} in ${Math.round(performance.now() - started)} ms`);
      assert.equal(res.status, 503, `${name}: ${JSON.stringify(body)}`);
      assert.deepEqual(body, { error: { status: 503, statusText: 'Service Unavailable', code: 'service_unavailable', message: body.error.message } });
    });
  }
});
