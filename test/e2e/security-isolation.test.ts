// Isolation in operator/JWT mode, tests that must find nothing: a rogue client on link A's leaf (no auth on its
// loopback port, by design) listening everywhere and forging chunks; a staging link looking for production
// traffic; a staging subscription key at the production facade.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { connectNats, type Msg, type NatsConnection } from '@halo/messaging';
import { startSecureSystem } from '../support/secure-system.ts';

const COUNT = { command: { text: 'SELECT count(*) AS n FROM patient' } };

/** Subscribes `nc` to every subject in `subjects`, collecting messages (permission errors are ignored). */
function listen(nc: NatsConnection, subjects: string[]): Msg[] {
  const seen: Msg[] = [];
  for (const s of subjects) nc.subscribe(s, { callback: (err, m) => { if (!err) seen.push(m); } });
  return seen;
}

test('nothing of link B, the facade or production reaches a rogue client or another environment', async (t) => {
  const sys = await startSecureSystem();
  t.after(() => sys.close());
  const agentA = await sys.startAgent('a', 'production', [{ name: 'a', engine: 'sqlite', path: sys.sampleDatabase('ia', 'PMS-IA'), profile: 'sample' }]);
  const agentB = await sys.startAgent('b', 'production', [{ name: 'b', engine: 'sqlite', path: sys.sampleDatabase('ib', 'PMS-IB'), profile: 'sample' }]);
  const agentS = await sys.startAgent('s', 'staging', [{ name: 's', engine: 'sqlite', path: sys.sampleDatabase('is', 'PMS-IS'), profile: 'sample' }]);
  const A = agentA.linkGuid;
  const B = agentB.linkGuid;
  const siteA = agentA.sites[0]!.haloGuid;
  const siteB = agentB.sites[0]!.haloGuid;
  const siteS = agentS.sites[0]!.haloGuid;
  const prod = sys.production;
  const requester = prod.requesterId;

  await t.test("a rogue client on link A's leaf sees nothing of link B or of the facade's replies", async () => {
    const rogue = await connectNats({ servers: agentA.leaf.clientUrl, name: 'rogue', log: sys.log });
    t.after(() => rogue.close());
    const seen = listen(rogue, ['>', `halo.v1.q.${B}.>`, `halo.v1.ack.${B}.>`, `halo.v1.r.${B}.>`, `_INBOX.${B}.>`, `halo.v1.r.*.${requester}.>`, '_INBOX.>', 'halo.v1.hb.*', '$SYS.>', '$JS.>', '$KV.>']);
    await rogue.flush();
    await sleep(300);
    // Production traffic for B, and a lookup (registry replies go to the facade's inbox).
    for (let i = 0; i < 3; i++) assert.equal((await prod.call(`/integrator/sites/${siteB}/queries/immediate`, { body: COUNT })).status, 200);
    assert.equal((await prod.call('/integrator/sites?practiceManagementSiteId=PMS-IB')).status, 200);
    await sleep(1_500); // B's heartbeats too
    const leaked = seen.filter((m) => !m.subject.includes(A) && !m.subject.startsWith('$'));
    assert.deepEqual(leaked.map((m) => m.subject), []);
    assert.deepEqual(seen.filter((m) => m.subject.includes(B) || m.subject.includes(siteB) || m.string().includes(siteB)).map((m) => m.subject), []);
  });

  await t.test('forged chunks from the rogue client reach no requester', async () => {
    const forger = await connectNats({ servers: agentA.leaf.clientUrl, name: 'forger', log: sys.log });
    t.after(() => forger.close());
    const witness = await connectNats({ servers: sys.hub.clientUrl, name: 'witness', log: sys.log, credsFile: sys.hub.setup.accounts.production.creds.facade });
    t.after(() => witness.close());
    const seen = listen(witness, ['halo.v1.r.*.>']);
    await witness.flush();
    for (const subject of [`halo.v1.r.${B}.${requester}.q1`, `halo.v1.r.${B}.${requester}.q2`]) {
      try {
        forger.publish(subject, JSON.stringify({ forged: true }));
      } catch {
        // a client may refuse locally; either way nothing may arrive
      }
    }
    await forger.flush().catch(() => undefined);
    await sleep(1_000);
    assert.deepEqual(seen.map((m) => m.subject), []);
    // The hub closed link A's leaf for the violation (A's own practice only); the leaf reconnects and A serves again.
    await waitFor(async () => (await prod.call(`/integrator/sites/${siteA}/queries/immediate`, { body: COUNT })).status === 200, 15_000);
    assert.equal((await prod.call(`/integrator/sites/${siteB}/queries/immediate`, { body: COUNT })).status, 200);
  });

  await t.test('a staging link sees no production traffic', async () => {
    const spy = await connectNats({ servers: agentS.leaf.clientUrl, name: 'staging-spy', log: sys.log });
    t.after(() => spy.close());
    const seen = listen(spy, ['>', 'halo.v1.q.>', 'halo.v1.r.>', '_INBOX.>', 'halo.v1.hb.*']);
    await spy.flush();
    await sleep(300);
    assert.equal((await prod.call(`/integrator/sites/${siteA}/queries/immediate`, { body: COUNT })).status, 200);
    assert.equal((await prod.call(`/integrator/sites/${siteB}/queries/immediate`, { body: COUNT })).status, 200);
    await sleep(1_500);
    assert.deepEqual(seen.filter((m) => !m.subject.includes(agentS.linkGuid) && !m.subject.startsWith('$')).map((m) => m.subject), []);
    // And staging's own query still works through the staging facade.
    assert.equal((await sys.staging.call(`/integrator/sites/${siteS}/queries/immediate`, { body: COUNT })).status, 200);
  });

  await t.test('environments do not see each other through the facades', async () => {
    const stagingKeyAtProd = await prod.call(`/integrator/sites/${siteA}/queries/immediate`, { body: COUNT, key: sys.staging.subscriptionKey });
    assert.equal(stagingKeyAtProd.status, 401);
    assert.equal((await prod.call('/integrator/sites?practiceManagementSiteId=PMS-IA', { key: sys.staging.subscriptionKey })).status, 401);
    // The staging registry knows no production site, and the production one no staging site.
    assert.deepEqual((await sys.staging.call('/integrator/sites?practiceManagementSiteId=PMS-IA')).body.sites, []);
    assert.deepEqual((await prod.call('/integrator/sites?practiceManagementSiteId=PMS-IS')).body.sites, []);
    assert.equal((await sys.staging.call(`/integrator/sites/${siteA}/queries/immediate`, { body: COUNT })).status, 404);
    // Support keys are per environment too.
    assert.equal((await prod.call('/support/practices', { support: sys.staging.supportKey })).status, 401);
    assert.equal((await prod.call('/support/practices', { support: true })).status, 200);
  });
});

async function waitFor(fn: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await fn().catch(() => false))) {
    if (Date.now() > until) throw new Error('condition not met in time');
    await sleep(200);
  }
}
