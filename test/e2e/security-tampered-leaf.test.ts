// A tampered practice leaf: a client that speaks the leafnode protocol itself, over TLS with link A's creds,
// subscribes to and injects onto link B's query, ack and reply subjects. Nothing reaches anyone, and the hub
// closes the connection on the first forbidden publish.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { connectNats, type Msg } from '@halo/messaging';
import { CREDS_FILE } from '@halo/agent';
import { connectRawLeaf } from '../support/raw-leaf.ts';
import { startSecureSystem } from '../support/secure-system.ts';

const COUNT = { command: { text: 'SELECT count(*) AS n FROM patient' } };

test('a tampered leaf with link A creds cannot reach link B, and the hub closes it', async (t) => {
  const sys = await startSecureSystem();
  t.after(() => sys.close());
  const agentA = await sys.startAgent('a', 'production', [{ name: 'a', engine: 'sqlite', path: sys.sampleDatabase('ta', 'PMS-TA'), profile: 'sample' }]);
  const agentB = await sys.startAgent('b', 'production', [{ name: 'b', engine: 'sqlite', path: sys.sampleDatabase('tb', 'PMS-TB'), profile: 'sample' }]);
  const A = agentA.linkGuid;
  const B = agentB.linkGuid;
  const siteB = agentB.sites[0]!.haloGuid;

  // Witnesses of anything forged: on B's own leaf for B, and on the hub where the facade and registry listen.
  const seenOnB: Msg[] = [];
  const onB = await connectNats({ servers: agentB.leaf.clientUrl, name: 'witness-b', log: sys.log });
  t.after(() => onB.close());
  for (const s of [`halo.v1.q.${B}.>`, `halo.v1.ack.${B}.>`, `_INBOX.${B}.>`]) onB.subscribe(s, { callback: (e, m) => { if (!e && m.string().includes('forged')) seenOnB.push(m); } });
  const seenOnHub: Msg[] = [];
  const asFacade = await connectNats({ servers: sys.hub.clientUrl, name: 'witness-facade', log: sys.log, credsFile: sys.hub.setup.accounts.production.creds.facade });
  const asRegistry = await connectNats({ servers: sys.hub.clientUrl, name: 'witness-registry', log: sys.log, credsFile: sys.hub.setup.accounts.production.creds.registry });
  t.after(() => asFacade.close());
  t.after(() => asRegistry.close());
  asFacade.subscribe(`halo.v1.r.${B}.>`, { callback: (e, m) => { if (!e && m.string().includes('forged')) seenOnHub.push(m); } });
  asRegistry.subscribe(`halo.v1.hb.${B}`, { callback: (e, m) => { if (!e && m.string().includes('forged')) seenOnHub.push(m); } });
  asRegistry.subscribe('halo.v1.registry.support.move', { callback: (e, m) => { if (!e) seenOnHub.push(m); } });
  await onB.flush();
  await asFacade.flush();
  await asRegistry.flush();

  const setup = sys.hub.setup;
  const raw = await connectRawLeaf(sys.hub.leafUrl, { credsFile: join(sys.stateDir('a'), CREDS_FILE), caFile: setup.tls.caFile, name: `link-${A}` });
  t.after(() => raw.close());
  await raw.ping();
  assert.ok(raw.lines[0]?.startsWith('INFO '), 'the hub accepted the CONNECT with link A creds');

  await t.test('subscriptions to link B subjects receive nothing', async () => {
    raw.subscribe(`halo.v1.q.${B}.>`);
    raw.subscribe(`halo.v1.ack.${B}.>`);
    raw.subscribe(`_INBOX.${B}.>`);
    raw.subscribe('>');
    raw.subscribe(`halo.v1.r.*.${sys.production.requesterId}.>`);
    await raw.ping();
    const res = await sys.production.call(`/integrator/sites/${siteB}/queries/immediate`, { body: COUNT });
    assert.equal(res.status, 200, 'B still answers its own queries');
    await sleep(300);
    assert.deepEqual(raw.messages.filter((m) => m.subject.includes(B) || m.subject.includes(siteB) || m.subject.startsWith('halo.v1.r.')), []);
    assert.equal(raw.isClosed(), false);
  });

  await t.test("publishes onto B's query, ack and reply subjects are dropped and the hub closes the connection", async () => {
    raw.publish(`halo.v1.q.${B}.${siteB}`, JSON.stringify({ forged: true }), `halo.v1.r.${A}.evil.q1`);
    raw.publish(`halo.v1.ack.${B}.q1`, JSON.stringify({ forged: 'cancel' }));
    raw.publish(`halo.v1.r.${B}.${sys.production.requesterId}.q1`, JSON.stringify({ forged: 'chunk' }));
    raw.publish(`halo.v1.hb.${B}`, JSON.stringify({ forged: 'heartbeat' }));
    raw.publish('halo.v1.registry.support.move', JSON.stringify({ forged: true }));
    await Promise.race([raw.closed, sleep(5_000)]);
    assert.equal(raw.isClosed(), true, 'the hub closed the tampered leaf');
    assert.ok(raw.lines.some((l) => l.startsWith('-ERR') && l.includes('Permissions Violation for Publish')), raw.lines.join('\n'));
    await sleep(300);
    assert.deepEqual(seenOnB.map((m) => m.subject), []);
    assert.deepEqual(seenOnHub.map((m) => m.subject), []);
  });

  await t.test('each forbidden subject alone also closes a fresh connection, and nothing is delivered', async () => {
    for (const [subject, reply] of [[`halo.v1.ack.${B}.q2`], [`halo.v1.r.${B}.${sys.production.requesterId}.q2`], [`halo.v1.q.${B}.${siteB}`, `halo.v1.r.${A}.x.y`]] as const) {
      const again = await connectRawLeaf(sys.hub.leafUrl, { credsFile: join(sys.stateDir('a'), CREDS_FILE), caFile: setup.tls.caFile, name: `link-${A}` });
      await again.ping();
      again.publish(subject, JSON.stringify({ forged: 'x' }), reply);
      await Promise.race([again.closed, sleep(5_000)]);
      assert.equal(again.isClosed(), true, `closed after a publish to ${subject}`);
    }
    await sleep(300);
    assert.deepEqual(seenOnB.map((m) => m.subject), []);
    assert.deepEqual(seenOnHub.map((m) => m.subject), []);
  });

  await t.test('link A itself is unaffected', async () => {
    const res = await sys.production.call(`/integrator/sites/${agentA.sites[0]!.haloGuid}/queries/immediate`, { body: COUNT });
    assert.equal(res.status, 200);
  });
});
