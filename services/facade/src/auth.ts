import { createHash, timingSafeEqual } from 'node:crypto';
import type { Authenticator } from './deps.ts';

/** One subscription key of one integrator. */
export interface SubscriptionKey {
  integratorId: string;
  key: string;
}

function sha256(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}

/**
 * Authenticates subscription keys against a fixed list. Only SHA-256 hashes are kept, so a heap dump does not
 * leak keys, and hashes are compared in constant time (equal lengths by construction).
 */
export function keyAuthenticator(keys: readonly SubscriptionKey[]): Authenticator {
  const entries = keys.map(({ integratorId, key }) => {
    if (key.length === 0) throw new TypeError(`empty subscription key for integrator ${integratorId}`);
    return { integratorId, hash: sha256(key) };
  });
  return {
    authenticate(subscriptionKey) {
      if (!subscriptionKey) return null;
      const hash = sha256(subscriptionKey);
      let found: string | null = null;
      // No early exit: the time taken does not depend on which entry matched.
      for (const entry of entries) {
        if (timingSafeEqual(hash, entry.hash) && found === null) found = entry.integratorId;
      }
      return found === null ? null : { integratorId: found };
    },
  };
}

/** Parses `integratorId:key,integratorId:key` (HALO_SUBSCRIPTION_KEYS entries, already split on commas). */
export function parseSubscriptionKeys(entries: readonly string[]): SubscriptionKey[] {
  return entries.map((entry, i) => {
    const at = entry.indexOf(':');
    const integratorId = entry.slice(0, at).trim();
    const key = entry.slice(at + 1).trim();
    // Never quote the entry: it holds a key.
    if (at <= 0 || integratorId.length === 0 || key.length === 0) throw new TypeError(`subscription key entry ${i + 1} is not integratorId:key`);
    return { integratorId, key };
  });
}
