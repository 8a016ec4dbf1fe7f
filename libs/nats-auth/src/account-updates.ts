import type { NatsConnection } from '@halo/messaging';
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
  const { jti: _jti, iss: _iss, iat, ...rest } = claims;
  const next: JwtClaims = { ...rest, nats: { ...claims.nats, revocations: merged } };
  return encodeJwt(next, operatorSigningKey, { issuedAt: Math.max(Math.floor(Date.now() / 1000), (iat ?? 0) + 1) });
}

/** The revocations an account JWT holds (user public key -> unix seconds). */
export function revocationsOf(accountJwt: string): Record<string, number> {
  return (decodeJwt(accountJwt).nats.revocations as Record<string, number> | undefined) ?? {};
}
