import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EnrolResult, RegisterResult, SupportEnrolmentTokenResult, subjects } from '@halo/contracts';
import { createLogger } from '@halo/log';
import { connectNats, requestJson } from '@halo/messaging';
import { NatsServerProcess, renderNatsConfig } from '@halo/nats-server';
import {
  createAccount, createUser, decodeJwt, encodeJwt, formatCreds, keyFromSeed, lookupAccountJwt, operatorSigningKey, pushAccountJwt,
  revocationsOf, seedOf, withLinkScope, withRevocations,
} from '@halo/nats-auth';
import { cleanupStack, launchHub, launchSecureHub } from '@halo/testkit';
import { startRegistry } from '@halo/registry';

const log = createLogger({ name: 'test', level: 'silent' });
const opts = { timeoutMs: 10_000, noResponders: 'registry_unavailable' } as const;

test('enrolment tokens are one-time, expire, and mint a JWT for exactly the presented key and a Link GUID the registry chose', async (t) => {
  const defer = cleanupStack(t);
  const hub = await launchHub();
  defer(() => hub.close());
  let clock = Date.parse('2030-01-01T00:00:00Z');
  const account = createAccount();
  const linkSigning = createAccount();
  for (let i = 0; i < 2; i++) {
    const nc = await connectNats({ servers: hub.clientUrl, name: `registry-${i}`, log });
    defer(() => nc.close());
    const registry = await startRegistry({ nc, log, env: 'production', now: () => clock, enrolment: { accountPublicKey: account.getPublicKey(), linkSigningKey: linkSigning } });
    defer(() => registry.close());
  }
  const client = await connectNats({ servers: hub.clientUrl, name: 'client', log });
  defer(() => client.close());
  const issue = (ttlSeconds: number, linkGuid?: string) =>
    requestJson(client, subjects.registry('support.enrolmentToken'), { by: 'support-1', ttlSeconds, ...(linkGuid ? { linkGuid } : {}) }, SupportEnrolmentTokenResult, opts);
  const enrol = (token: string, publicKey = createUser().getPublicKey(), linkGuid?: string) =>
    requestJson(client, subjects.registry('enrol'), { token, publicKey, ...(linkGuid ? { linkGuid } : {}) }, EnrolResult, opts);

  const { token, env } = await issue(600);
  assert.equal(env, 'production');
  const key = createUser().getPublicKey();
  const result = await enrol(token, key);
  const claims = decodeJwt(result.jwt);
  assert.deepEqual([claims.sub, claims.name, claims.iss, claims.nats.issuer_account], [key, result.linkGuid, linkSigning.getPublicKey(), account.getPublicKey()]);
  await assert.rejects(enrol(token), { code: 'unauthorized' });

  // The caller never chooses its Link GUID. A GUID nobody has is refused and the token kept (an older agent sends
  // its own); an existing link's is a take-over attempt: refused, and the token is spent.
  const second = (await issue(600)).token;
  await assert.rejects(enrol(second, undefined, randomUUID()), { code: 'enrolment_refused' });
  const other = await enrol(second);
  assert.notEqual(other.linkGuid, result.linkGuid);
  const third = (await issue(600)).token;
  await assert.rejects(enrol(third, undefined, result.linkGuid), { code: 'enrolment_refused' });
  await assert.rejects(enrol(third), { code: 'unauthorized' });

  // Of many racing enrolments with one token (across two replicas), exactly one gets credentials.
  const raced = (await issue(600)).token;
  const outcomes = await Promise.allSettled(Array.from({ length: 8 }, () => enrol(raced)));
  assert.equal(outcomes.filter((o) => o.status === 'fulfilled').length, 1);

  const expiring = (await issue(60)).token;
  clock += 61_000;
  await assert.rejects(enrol(expiring), { code: 'unauthorized' });
  await assert.rejects(requestJson(client, subjects.registry('support.enrolmentToken'), { by: 'support-1', env: 'staging' }, SupportEnrolmentTokenResult, opts), { code: 'bad_request' });
  // Re-enrolment tokens are for links enrolled here, and revoke their earlier keys: SYS credentials this registry was not given.
  await assert.rejects(issue(600, randomUUID()), { code: 'not_found' });
  await assert.rejects(issue(600, result.linkGuid), { code: 'registry_unavailable' });
  await assert.rejects(requestJson(client, subjects.registry('support.revoke'), { linkGuid: result.linkGuid, by: 'support-1', reason: 'x' }, SupportEnrolmentTokenResult, opts), { code: 'registry_unavailable' });
});

test('a registry brings an account made by an earlier setup to the current link template, so its links can register', async (t) => {
  const defer = cleanupStack(t);
  const hub = await launchSecureHub({ log });
  defer(() => hub.close());
  const { setup } = hub;
  const account = setup.accounts.production;
  const sysNc = await connectNats({ servers: hub.clientUrl, name: 'claims', log, credsFile: setup.sysCreds.claims });
  defer(() => sysNc.close());
  // An earlier setup let links publish registrations on subjects without their Link GUID, and holds a revocation.
  const current = await lookupAccountJwt(sysNc, account.publicKey);
  const claims = decodeJwt(current);
  const scoped = (claims.nats.signing_keys as Array<Record<string, any>>).map((k) => (k.key !== account.linkSigningKey ? k : {
    ...k, template: { ...k.template, pub: { allow: (k.template.pub.allow as string[]).map((s) => (s.startsWith('halo.v1.registry.') ? s.replace('.{{name()}}', '') : s)) } },
  }));
  const { jti: _jti, iss: _iss, iat: _iat, ...rest } = claims;
  const old = withRevocations(encodeJwt({ ...rest, nats: { ...claims.nats, signing_keys: scoped } }, operatorSigningKey(setup)), { [createUser().getPublicKey()]: 1 }, operatorSigningKey(setup));
  await pushAccountJwt(sysNc, old);
  assert.ok(withLinkScope(await lookupAccountJwt(sysNc, account.publicKey), account.linkSigningKey, operatorSigningKey(setup)) !== null, 'the old template is in place');

  const nc = await connectNats({ servers: hub.clientUrl, name: 'registry', log, credsFile: account.creds.registry });
  defer(() => nc.close());
  const registry = await startRegistry({
    nc, log, env: 'production',
    enrolment: { accountPublicKey: account.publicKey, linkSigningKey: keyFromSeed(readFileSync(account.linkSigningSeedFile, 'utf8')), revocation: { sysNc, operatorSigningKey: operatorSigningKey(setup) } },
  });
  defer(() => registry.close());
  const updated = await lookupAccountJwt(sysNc, account.publicKey);
  assert.equal(withLinkScope(updated, account.linkSigningKey, operatorSigningKey(setup)), null);
  assert.deepEqual(Object.keys(revocationsOf(updated)), Object.keys(revocationsOf(old)), 'revocations are kept');

  // A link enrolled now registers through its leaf on its own subject.
  const facade = await connectNats({ servers: hub.clientUrl, name: 'facade', log, credsFile: account.creds.facade });
  defer(() => facade.close());
  const { token } = await requestJson(facade, subjects.registry('support.enrolmentToken'), { by: 'support-1' }, SupportEnrolmentTokenResult, opts);
  const user = createUser();
  const enrolled = await requestJson(facade, subjects.registry('enrol'), { token, publicKey: user.getPublicKey() }, EnrolResult, opts);
  const dir = mkdtempSync(join(tmpdir(), 'halo-leaf-'));
  defer(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'link.creds'), formatCreds(enrolled.jwt, seedOf(user)), { mode: 0o600 });
  const leaf = new NatsServerProcess({
    name: 'leaf', dir: join(dir, 'leaf'), log,
    config: renderNatsConfig('leaf-secure.conf.tmpl', { serverName: `link-${enrolled.linkGuid}`, clientPort: -1, hubLeafUrls: JSON.stringify(hub.leafUrl), credsFile: join(dir, 'link.creds'), caFile: setup.tls.caFile, proxy: '' }),
  });
  await leaf.start();
  defer(() => leaf.close());
  const link = await connectNats({ servers: leaf.clientUrl, name: 'link', log, inboxPrefix: subjects.agentInbox(enrolled.linkGuid) });
  defer(() => link.close());
  const request = { linkGuid: enrolled.linkGuid, env: 'production', version: 'test', sites: [] };
  const registered = await eventuallyOk(() => requestJson(link, subjects.linkRegistry('register', enrolled.linkGuid), request, RegisterResult, { timeoutMs: 2_000, noResponders: 'registry_unavailable' }));
  assert.deepEqual(registered.sites, []);
});

/** The leaf connects to the hub a moment after it starts: retries until the request is answered (15 s at most). */
async function eventuallyOk<T>(fn: () => Promise<T>): Promise<T> {
  const until = Date.now() + 15_000;
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      if (Date.now() > until) throw err;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}
