import type { SupportAuthenticator } from '../deps.ts';
import { keyAuthenticator } from './subscription-keys.ts';

/** One support key of one support user (`HALO_SUPPORT_KEYS` entry `supportUserId:key`). */
export interface SupportKey {
  supportUserId: string;
  key: string;
}

const BEARER = /^Bearer\s+(\S+)\s*$/i;

/** The key of an `Authorization: Bearer <key>` header; undefined for anything else. */
export function bearerKey(header: string | undefined): string | undefined {
  return header === undefined ? undefined : BEARER.exec(header)?.[1];
}

/**
 * Authenticates support keys: hashed and compared in constant time like subscription keys, but a list of its own,
 * so an integrator key never opens `/support/*` and a support key never opens `/integrator/*`.
 */
export function supportKeyAuthenticator(keys: readonly SupportKey[]): SupportAuthenticator {
  const inner = keyAuthenticator(keys.map(({ supportUserId, key }) => ({ integratorId: supportUserId, key })));
  return {
    authenticate(key) {
      const found = inner.authenticate(key);
      return found ? { supportUserId: found.integratorId } : null;
    },
  };
}

/** Parses `supportUserId:key` entries (HALO_SUPPORT_KEYS, already split on commas). */
export function parseSupportKeys(entries: readonly string[]): SupportKey[] {
  return entries.map((entry, i) => {
    const at = entry.indexOf(':');
    const supportUserId = entry.slice(0, at).trim();
    const key = entry.slice(at + 1).trim();
    // Never quote the entry: it holds a key.
    if (at <= 0 || supportUserId.length === 0 || key.length === 0) throw new TypeError(`support key entry ${i + 1} is not supportUserId:key`);
    if (!/^[A-Za-z0-9_.@-]{1,64}$/.test(supportUserId)) throw new TypeError(`support key entry ${i + 1}: the user id may hold letters, digits, _ . @ - only`);
    return { supportUserId, key };
  });
}
