// Whose Link GUID a caller may use, in operator/JWT mode: enrolment mints the Link GUID (a caller naming an
// existing link gets nothing: no creds, so no rogue leaf receiving that link's queries); a link's register,
// unregister and heartbeats naming another link are refused; re-enrolment is only with a token support bound to
// that link, and it revokes the link's earlier credentials.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createUser, decodeJwt, formatCreds, parseCreds, seedOf } from '@halo/nats-auth';
import { CREDS_FILE, type Agent } from '@halo/agent';
import { isAppError, subjects } from '@halo/contracts';
import { connectNats, requestJson } from '@halo/messaging';
import { z } from 'zod';
import { connectRawLeaf } from '../support/raw-leaf.ts';
import { eventually, startSecureSystem } from '../support/secure-system.ts';

const PATIENT = {
  command: { text: 'SELECT FName, LName FROM patient WHERE PatNum = @patNum', parameters: [{ name: '@patNum', type: 'Int', value: '7' }] },
};
const COUNT = { command: { text: 'SELECT count(*) AS n FROM patient' } };
type Json = Record<string, any>;

test('an enrolment token cannot take over an existing link: its queries reach no rogue leaf', async (t) => {
  const sys = await startSecureSystem();
  t.after(() => sys.close());
  const prod = sys.production;
  const agent = await sys.startAgent('a', 'production', [
    { name: 'one', engine: 'sqlite', path: sys.sampleDatabase('hj1', 'PMS-HJ-1'), profile: 'sample' },
    { name: 'two', engine: 'sqlite', path: sys.sampleDatabase('hj2', 'PMS-HJ-2'), profile: 'sample' },
  ]);
  const A = agent.linkGuid;
  const token = await prod.enrolmentToken();
  const rogueKey = createUser();

  // The GUID is in logs and support screens; the token is any unused one.
  const hijack = await prod.call('/enrol', { body: { token, linkGuid: A, publicKey: rogueKey.getPublicKey() }, key: null });
  if (hijack.status === 200) {
    // What a rogue leaf with those creds receives while the real agent keeps answering.
    const credsFile = join(sys.dir, 'rogue.creds');
    writeFileSync(credsFile, formatCreds(hijack.body.jwt, seedOf(rogueKey)), { mode: 0o600 });
    const leaf = await connectRawLeaf(sys.hub.leafUrl, { credsFile, caFile: sys.hub.setup.tls.caFile, name: `link-${A}-rogue` });
    t.after(() => leaf.close());
    leaf.subscribe(`halo.v1.q.${A}.>`);
    await leaf.ping();

    for (const site of agent.sites) {
      assert.equal((await prod.call(`/integrator/sites/${site.haloGuid}/queries/immediate`, { body: PATIENT })).status, 200);
    }
    assert.deepEqual(leaf.messages.map((m) => `${m.subject} ${JSON.stringify((JSON.parse(m.data) as Json).command)}`), [], 'a rogue leaf received the link\'s queries');
  }
  assert.equal(hijack.status, 403, JSON.stringify(hijack.body));
  assert.equal(hijack.body.error.code, 'enrolment_refused');

  await t.test('the token is spent by the attempt; a token enrols a new link whose GUID the registry mints', async () => {
    assert.equal((await prod.call('/enrol', { body: { token, publicKey: createUser().getPublicKey() }, key: null })).status, 401);
    const key = createUser().getPublicKey();
    const res = await prod.call('/enrol', { body: { token: await prod.enrolmentToken(), publicKey: key }, key: null });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.notEqual(res.body.linkGuid, A);
    const claims = decodeJwt(res.body.jwt);
    assert.equal(claims.name, res.body.linkGuid);
    assert.equal(claims.sub, key);
  });

  await t.test('the real link keeps serving both practices; the attempt is in the audit trail', async () => {
    for (const site of agent.sites) assert.equal((await prod.call(`/integrator/sites/${site.haloGuid}/queries/immediate`, { body: COUNT })).status, 200);
    const audit = await prod.call('/support/audit?limit=100', { support: true });
    const refused = (audit.body.entries as Json[]).filter((e) => e.action === 'enrolment.refused');
    assert.deepEqual(refused.map((e) => e.linkGuid), [A]);
  });
});

test("a link's register, unregister and heartbeats naming another link change nothing of it", async (t) => {
  const sys = await startSecureSystem();
  t.after(() => sys.close());
  const prod = sys.production;
  const agentA = await sys.startAgent('a', 'production', [{ name: 'a', engine: 'sqlite', path: sys.sampleDatabase('oa', 'PMS-OA'), profile: 'sample' }]);
  const agentB = await sys.startAgent('b', 'production', [{ name: 'b', engine: 'sqlite', path: sys.sampleDatabase('ob', 'PMS-OB'), profile: 'sample' }]);
  const A = agentA.linkGuid;
  const B = agentB.linkGuid;
  const siteB = agentB.sites[0]!.haloGuid;
  // A client on link A's leaf (its loopback port has no auth of its own) speaks with link A's NATS user.
  const rogue = await connectNats({ servers: agentA.leaf.clientUrl, name: 'rogue', log: sys.log, inboxPrefix: subjects.agentInbox(A) });
  t.after(() => rogue.close());
  const attempt = (subject: string, payload: unknown) =>
    requestJson(rogue, subject, payload, z.unknown(), { timeoutMs: 3_000, noResponders: 'registry_unavailable' }).then(
      () => 'accepted',
      (err: unknown) => (isAppError(err) ? err.code : 'failed'),
    );
  const emptied = { linkGuid: B, env: 'production', version: '0.0.0-forged', sites: [], configuredSites: [] };

  await t.test('on its own subjects: refused with link_mismatch (or for a Halo GUID of another link, bad_request)', async () => {
    assert.equal(await attempt(`halo.v1.registry.register.${A}`, emptied), 'link_mismatch');
    assert.equal(await attempt(`halo.v1.registry.unregister.${A}`, { linkGuid: B }), 'link_mismatch');
    const bRegistration = (await prod.call(`/support/sites?pmsId=PMS-OB`, { support: true })).body.sites[0] as Json;
    const stolen = {
      linkGuid: A, env: 'production', version: '0.0.0-forged',
      sites: [{ haloGuid: siteB, pmsType: 'sample', pmsId: 'PMS-OB', practiceName: 'x', databaseIdentity: bRegistration.databaseIdentity, catalogues: [] }],
    };
    assert.equal(await attempt(`halo.v1.registry.register.${A}`, stolen), 'bad_request');
  });

  await t.test('on the registry verbs without a Link GUID and on link B\'s subjects: nobody answers', async () => {
    assert.notEqual(await attempt('halo.v1.registry.register', emptied), 'accepted');
    assert.notEqual(await attempt('halo.v1.registry.unregister', { linkGuid: B }), 'accepted');
    assert.notEqual(await attempt(`halo.v1.registry.unregister.${B}`, { linkGuid: B }), 'accepted');
  });

  await t.test("link B's site is still active and queried", async () => {
    const site = (await prod.call(`/support/sites?pmsId=PMS-OB`, { support: true })).body.sites[0] as Json;
    assert.equal(site.status, 'active');
    await eventually(async () => (await prod.call(`/integrator/sites/${siteB}/queries/immediate`, { body: COUNT })).status === 200, 15_000);
  });

  await t.test("a heartbeat on link A's subject naming link B does not bring B back online", async () => {
    await agentB.close();
    const linkB = async () => ((await prod.call('/support/practices', { support: true })).body.links as Json[]).find((l) => l.linkGuid === B)!;
    await eventually(async () => (await linkB()).availability === 'offline', 10_000);
    // Link A's leaf is up (a violation above may have made the hub close it for a moment): forged heartbeats get through.
    await eventually(async () => (await prod.call(`/integrator/sites/${agentA.sites[0]!.haloGuid}/queries/immediate`, { body: COUNT })).status === 200, 15_000);
    const forged = () => rogue.publish(subjects.heartbeat(A), JSON.stringify({ linkGuid: B, version: '0.0.0-forged', sites: [siteB], load: { inFlight: 0, queued: 0 }, clock: Date.now() }));
    // Bounded: the registry handles a heartbeat in milliseconds; a forged one would show within this window.
    await assert.rejects(eventually(async () => {
      forged();
      const link = await linkB();
      return link.version === '0.0.0-forged' || link.availability === 'online';
    }, 3_000, 200), /condition not met/);
  });
});

test('re-enrolment: a token support bound to a link enrols only that link, keeps its GUIDs and revokes its old creds', async (t) => {
  const sys = await startSecureSystem();
  t.after(() => sys.close());
  const prod = sys.production;
  const dbs = [{ name: 'a', engine: 'sqlite' as const, path: sys.sampleDatabase('re', 'PMS-RE'), profile: 'sample' }];
  const first = await sys.startAgent('a', 'production', dbs);
  const other = await sys.startAgent('b', 'production', [{ name: 'b', engine: 'sqlite', path: sys.sampleDatabase('rb', 'PMS-REB'), profile: 'sample' }]);
  const A = first.linkGuid;
  const siteA = first.sites[0]!.haloGuid;
  const oldCreds = join(sys.dir, 'old.creds');
  writeFileSync(oldCreds, readFileSync(join(sys.stateDir('a'), CREDS_FILE)), { mode: 0o600 });
  const oldKey = decodeJwt(parseCreds(readFileSync(oldCreds, 'utf8')).jwt).sub;
  let again: Agent | undefined;

  const issue = (body: unknown) => prod.call('/support/enrolment-tokens', { method: 'POST', support: true, body });
  assert.equal((await issue({ linkGuid: '0b8f4c32-6f0e-4b44-9a39-0c9d6f1b7a10' })).status, 404);
  const bound = await issue({ linkGuid: A, note: 'server rebuilt' });
  assert.equal(bound.status, 200, JSON.stringify(bound.body));
  assert.equal(bound.body.linkGuid, A);

  await t.test('a token bound to this link enrols no other link', async () => {
    const stray = await issue({ linkGuid: A });
    const res = await prod.call('/enrol', { body: { token: stray.body.token, linkGuid: other.linkGuid, publicKey: createUser().getPublicKey() }, key: null });
    assert.equal(res.status, 403);
    assert.equal(res.body.error.code, 'enrolment_refused');
  });

  await t.test('the link re-enrols with it: same Link and Halo GUIDs, authority kept, the old creds are refused', async () => {
    await first.close();
    rmSync(join(sys.stateDir('a'), CREDS_FILE));
    again = await sys.startAgent('a', 'production', dbs, { token: bound.body.token });
    assert.equal(again.linkGuid, A);
    assert.equal(again.sites[0]!.haloGuid, siteA);
    assert.equal(again.sites[0]!.authoritative, true);
    const newKey = decodeJwt(parseCreds(readFileSync(join(sys.stateDir('a'), CREDS_FILE), 'utf8')).jwt).sub;
    assert.notEqual(newKey, oldKey);
    await eventually(async () => (await prod.call(`/integrator/sites/${siteA}/queries/immediate`, { body: COUNT })).status === 200, 15_000);
    // A leaf with the earlier creds is closed by the hub at once (revoked), so it hears no query.
    const stale = await connectRawLeaf(sys.hub.leafUrl, { credsFile: oldCreds, caFile: sys.hub.setup.tls.caFile, name: `link-${A}-old` });
    t.after(() => stale.close());
    await stale.closed;
    assert.deepEqual(stale.messages, []);
    assert.equal((await prod.call(`/integrator/sites/${other.sites[0]!.haloGuid}/queries/immediate`, { body: COUNT })).status, 200);
  });

  await t.test('the token was used once; the audit trail has the re-enrolment', async () => {
    const reuse = await prod.call('/enrol', { body: { token: bound.body.token, publicKey: createUser().getPublicKey() }, key: null });
    assert.equal(reuse.status, 401);
    const audit = await prod.call('/support/audit?limit=100', { support: true });
    const actions = (audit.body.entries as Json[]).filter((e) => e.linkGuid === A).map((e) => e.action);
    assert.deepEqual(actions, ['link.enrolled', 'enrolment.token_issued', 'enrolment.token_issued', 'link.reenrolled']);
  });

  await t.test('an ordinary token makes it a new link: new Link and Halo GUIDs, not authoritative, the old state kept', async () => {
    await again?.close();
    rmSync(join(sys.stateDir('a'), CREDS_FILE));
    const fresh = await sys.startAgent('a', 'production', dbs);
    assert.notEqual(fresh.linkGuid, A);
    assert.notEqual(fresh.sites[0]!.haloGuid, siteA);
    assert.equal(fresh.sites[0]!.authoritative, false);
    const previous = JSON.parse(readFileSync(join(sys.stateDir('a'), 'state.previous.json'), 'utf8')) as Json;
    assert.equal(previous.linkGuid, A);
  });
});
