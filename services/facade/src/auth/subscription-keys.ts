import type { Authenticator } from '../deps.ts';
import { assertStrongKey, hashSubscriptionKey } from './integrator-keys.ts';
import { integratorAuthenticator, MAX_KEYS_PER_INTEGRATOR, type IntegratorKeys } from './integrators-file.ts';
import type { RateLimit } from './rate-limit.ts';

/** One subscription key of one integrator, given in clear (HALO_SUBSCRIPTION_KEYS, tests, the demo). */
export interface SubscriptionKey {
  integratorId: string;
  key: string;
  /** PMS types the integrator is onboarded for; omitted: every type (main.ts always sets it). */
  pmsTypes?: readonly string[];
  rateLimit?: RateLimit;
}

/**
 * Authenticates subscription keys given in clear. They are hashed at once and only the SHA-256 hashes are kept,
 * so a heap dump does not leak keys; the comparison is the constant-time one of `integratorAuthenticator`.
 */
export function keyAuthenticator(keys: readonly SubscriptionKey[]): Authenticator {
  return integratorAuthenticator(groupKeys(keys));
}

/** Keys grouped per integrator, as hashes; the first entry of an integrator sets its PMS types and rate limit. */
export function groupKeys(keys: readonly SubscriptionKey[]): IntegratorKeys[] {
  const byId = new Map<string, IntegratorKeys & { keyHashes: string[] }>();
  for (const { integratorId, key, pmsTypes, rateLimit } of keys) {
    if (key.length === 0) throw new TypeError(`empty subscription key for integrator ${integratorId}`);
    let entry = byId.get(integratorId);
    if (!entry) {
      entry = { id: integratorId, keyHashes: [], ...(pmsTypes ? { pmsTypes } : {}), ...(rateLimit ? { rateLimit } : {}) };
      byId.set(integratorId, entry);
    }
    entry.keyHashes.push(hashSubscriptionKey(key));
  }
  return [...byId.values()];
}

/**
 * Refuses keys that are too weak (under 32 random bytes of base64url) and integrators with more than two keys;
 * run at start-up on every key given in clear. Messages name the integrator and entry, never the key.
 */
export function assertUsableKeys(keys: readonly SubscriptionKey[]): void {
  const counts = new Map<string, number>();
  keys.forEach(({ integratorId, key }, i) => {
    assertStrongKey(key, `${i + 1} (integrator ${integratorId})`);
    const count = (counts.get(integratorId) ?? 0) + 1;
    if (count > MAX_KEYS_PER_INTEGRATOR) throw new TypeError(`integrator ${integratorId} has more than ${MAX_KEYS_PER_INTEGRATOR} subscription keys; remove the retired one`);
    counts.set(integratorId, count);
  });
}

/** Parses `integratorId:key,integratorId:key` (HALO_SUBSCRIPTION_KEYS entries, already split on commas) and checks each key. */
export function parseSubscriptionKeys(entries: readonly string[], pmsTypes?: readonly string[]): SubscriptionKey[] {
  const keys = entries.map((entry, i) => {
    const at = entry.indexOf(':');
    const integratorId = entry.slice(0, at).trim();
    const key = entry.slice(at + 1).trim();
    // Never quote the entry: it holds a key.
    if (at <= 0 || integratorId.length === 0 || key.length === 0) throw new TypeError(`subscription key entry ${i + 1} is not integratorId:key`);
    return { integratorId, key, ...(pmsTypes ? { pmsTypes } : {}) };
  });
  assertUsableKeys(keys);
  return keys;
}
