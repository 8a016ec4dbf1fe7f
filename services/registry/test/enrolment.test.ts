import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { EnrolResult, SupportEnrolmentTokenResult, subjects } from '@halo/contracts';
import { createLogger } from '@halo/log';
import { connectNats, requestJson } from '@halo/messaging';
import { createAccount, createUser, decodeJwt } from '@halo/nats-auth';
import { cleanupStack, launchHub } from '@halo/testkit';
import { startRegistry } from '@halo/registry';

const log = createLogger({ name: 'test', level: 'silent' });
const opts = { timeoutMs: 10_000, noResponders: 'registry_unavailable' } as const;

test('enrolment tokens are one-time, expire, and mint a JWT for exactly the presented key and link', async (t) => {
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
  const issue = (ttlSeconds: number) => requestJson(client, subjects.registry('support.enrolmentToken'), { by: 'support-1', ttlSeconds }, SupportEnrolmentTokenResult, opts);
  const enrol = (token: string, linkGuid = randomUUID(), publicKey = createUser().getPublicKey()) =>
    requestJson(client, subjects.registry('enrol'), { token, linkGuid, publicKey }, EnrolResult, opts);

  const { token, env } = await issue(600);
  assert.equal(env, 'production');
  const linkGuid = randomUUID();
  const key = createUser().getPublicKey();
  const result = await enrol(token, linkGuid, key);
  const claims = decodeJwt(result.jwt);
  assert.deepEqual([claims.sub, claims.name, claims.iss, claims.nats.issuer_account], [key, linkGuid, linkSigning.getPublicKey(), account.getPublicKey()]);
  await assert.rejects(enrol(token), { code: 'unauthorized' });

  // Of many racing enrolments with one token (across two replicas), exactly one gets credentials.
  const raced = (await issue(600)).token;
  const outcomes = await Promise.allSettled(Array.from({ length: 8 }, () => enrol(raced)));
  assert.equal(outcomes.filter((o) => o.status === 'fulfilled').length, 1);

  const expiring = (await issue(60)).token;
  clock += 61_000;
  await assert.rejects(enrol(expiring), { code: 'unauthorized' });
  // A key enrolled once cannot be enrolled again (a revoked key must never come back).
  await assert.rejects(enrol((await issue(600)).token, linkGuid, key), { code: 'bad_request' });
  await assert.rejects(requestJson(client, subjects.registry('support.enrolmentToken'), { by: 'support-1', env: 'staging' }, SupportEnrolmentTokenResult, opts), { code: 'bad_request' });
  // Revocation needs SYS credentials this registry was not given.
  await assert.rejects(requestJson(client, subjects.registry('support.revoke'), { linkGuid, by: 'support-1', reason: 'x' }, SupportEnrolmentTokenResult, opts), { code: 'registry_unavailable' });
});
