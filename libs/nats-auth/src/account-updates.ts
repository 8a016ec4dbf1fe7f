import { isDeepStrictEqual } from 'node:util';
import type { NatsConnection } from '@halo/messaging';
import { linkScopeTemplate } from './claims.ts';
import { decodeJwt, encodeJwt, type JwtClaims } from './jwt.ts';
import type { KeyPair } from './keys.ts';

/** Thrown when the account resolver refuses or does not answer an account lookup or update. */
export class AccountUpdateError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'AccountUpdateError';
  }
}

/** The account JWT the hub's resolver holds now (over a SYS connection). */
export async function lookupAccountJwt(sysNc: NatsConnection, accountKey: string, timeoutMs = 5_000): Promise<string> {
  let text: string;
  try {
    text = (await sysNc.request(`$SYS.REQ.ACCOUNT.${accountKey}.CLAIMS.LOOKUP`, '', { timeout: timeoutMs })).string().trim();
  } catch (cause) {
    throw new AccountUpdateError('the account resolver did not answer the lookup', { cause });
  }
  if (!text.startsWith('eyJ')) throw new AccountUpdateError(`the account resolver has no JWT for ${accountKey}`);
  return text;
}

/** Pushes an account JWT to the hub's full resolver ($SYS.REQ.CLAIMS.UPDATE); the servers apply it at once. */
export async function pushAccountJwt(sysNc: NatsConnection, jwt: string, timeoutMs = 5_000): Promise<void> {
  let body: { data?: { code?: number; message?: string }; error?: { code?: number; description?: string } };
  try {
    body = (await sysNc.request('$SYS.REQ.CLAIMS.UPDATE', jwt, { timeout: timeoutMs })).json();
  } catch (cause) {
    throw new AccountUpdateError('the account resolver did not answer the update', { cause });
  }
  if (body.error || (body.data?.code !== undefined && body.data.code >= 300)) {
    throw new AccountUpdateError(`the account resolver refused the update: ${body.error?.description ?? body.data?.message ?? 'unknown'}`);
  }
}

/**
 * The account JWT with `revocations` merged in (the later timestamp of each key wins), re-signed by the operator
 * signing key with an issue time after the current one (the resolver keeps only newer JWTs).
 */
export function withRevocations(accountJwt: string, revocations: Record<string, number>, operatorSigningKey: KeyPair): string {
  const claims = decodeJwt(accountJwt);
  if (claims.nats.type !== 'account') throw new AccountUpdateError('not an account JWT');
  const merged: Record<string, number> = { ...((claims.nats.revocations as Record<string, number> | undefined) ?? {}) };
  for (const [key, at] of Object.entries(revocations)) merged[key] = Math.max(merged[key] ?? 0, at);
  return resigned(claims, { ...claims.nats, revocations: merged }, operatorSigningKey);
}

/**
 * The account JWT with the link signing key's scope template set to this version's `linkScopeTemplate()`, re-signed;
 * null when it holds that template already. Accounts made by an earlier version get the current link permissions
 * this way (pushed at runtime like revocations), without new keys or a new setup.
 */
export function withLinkScope(accountJwt: string, linkSigningKey: string, operatorSigningKey: KeyPair): string | null {
  const claims = decodeJwt(accountJwt);
  if (claims.nats.type !== 'account') throw new AccountUpdateError('not an account JWT');
  const keys = (claims.nats.signing_keys as unknown[] | undefined) ?? [];
  const template = linkScopeTemplate();
  const index = keys.findIndex((k) => typeof k === 'object' && k !== null && (k as { key?: unknown }).key === linkSigningKey);
  if (index < 0) throw new AccountUpdateError('the account has no scoped signing key for links');
  const scope = keys[index] as Record<string, unknown>;
  if (isDeepStrictEqual(scope.template, template)) return null;
  const next = keys.map((k, i) => (i === index ? { ...scope, template } : k));
  return resigned(claims, { ...claims.nats, signing_keys: next }, operatorSigningKey);
}

/** Account claims with new `nats`, signed with an issue time after the current one (the resolver keeps only newer JWTs). */
function resigned(claims: JwtClaims, nats: JwtClaims['nats'], operatorSigningKey: KeyPair): string {
  const { jti: _jti, iss: _iss, iat, ...rest } = claims;
  return encodeJwt({ ...rest, nats }, operatorSigningKey, { issuedAt: Math.max(Math.floor(Date.now() / 1000), (iat ?? 0) + 1) });
}

/** The revocations an account JWT holds (user public key -> unix seconds). */
export function revocationsOf(accountJwt: string): Record<string, number> {
  return (decodeJwt(accountJwt).nats.revocations as Record<string, number> | undefined) ?? {};
}
