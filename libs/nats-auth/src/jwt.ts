import { createHash, randomBytes } from 'node:crypto';
import { fromPublic, type KeyPair } from '@nats-io/nkeys';

/** The JOSE header of every NATS JWT. */
const HEADER = { typ: 'JWT', alg: 'ed25519-nkey' } as const;

/** Claims every NATS JWT carries; `nats` holds the type-specific part. */
export interface JwtClaims {
  jti?: string;
  iat?: number;
  exp?: number;
  iss?: string;
  sub: string;
  name?: string;
  nats: Record<string, unknown> & { type: 'operator' | 'account' | 'user'; version?: number };
}

/** Thrown for a JWT that does not parse or whose signature does not verify. */
export class JwtError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'JwtError';
  }
}

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value), 'utf8').toString('base64url');

/**
 * Encodes and signs a NATS JWT: `iss` is the signer's public key, `iat` now (seconds) unless given, `jti` a
 * unique id (the hash nsc uses is not checked by the server; random bytes hashed keep it unique and opaque).
 */
export function encodeJwt(claims: JwtClaims, signer: KeyPair, options: { issuedAt?: number } = {}): string {
  const body: JwtClaims = {
    ...claims,
    iat: options.issuedAt ?? claims.iat ?? Math.floor(Date.now() / 1000),
    iss: signer.getPublicKey(),
    jti: createHash('sha256').update(randomBytes(32)).digest('base64url').toUpperCase().replace(/[^A-Z0-9]/g, '').slice(0, 52),
    nats: { version: 2, ...claims.nats },
  };
  const signingInput = `${b64(HEADER)}.${b64(body)}`;
  const sig = Buffer.from(signer.sign(Buffer.from(signingInput, 'utf8'))).toString('base64url');
  return `${signingInput}.${sig}`;
}

/** Decodes a NATS JWT and verifies its signature against its own `iss`; does not judge who may issue it. */
export function decodeJwt(token: string): JwtClaims {
  const parts = token.trim().split('.');
  if (parts.length !== 3) throw new JwtError('not a JWT');
  const [header, payload, sig] = parts as [string, string, string];
  let claims: JwtClaims;
  try {
    const h = JSON.parse(Buffer.from(header, 'base64url').toString('utf8')) as { alg?: unknown };
    if (h.alg !== HEADER.alg && h.alg !== 'ed25519') throw new JwtError('not an nkey-signed JWT');
    claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as JwtClaims;
  } catch (cause) {
    throw cause instanceof JwtError ? cause : new JwtError('JWT does not parse', { cause });
  }
  if (typeof claims.iss !== 'string' || typeof claims.sub !== 'string' || typeof claims.nats !== 'object') throw new JwtError('JWT lacks iss, sub or nats');
  let ok = false;
  try {
    ok = fromPublic(claims.iss).verify(Buffer.from(`${header}.${payload}`, 'utf8'), Buffer.from(sig, 'base64url'));
  } catch (cause) {
    throw new JwtError('JWT issuer is not a public nkey', { cause });
  }
  if (!ok) throw new JwtError('JWT signature does not verify');
  return claims;
}
