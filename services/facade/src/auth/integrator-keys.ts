import { createHash, randomBytes } from 'node:crypto';

/** Random bytes in a subscription key; shorter keys are refused at start-up. */
export const KEY_BYTES = 32;

const BASE64URL = /^[A-Za-z0-9_-]+$/;

/** A fresh subscription key (32 random bytes, base64url, 43 characters) and the hash the facade keeps of it. */
export function mintSubscriptionKey(): { key: string; keyHash: string } {
  const key = randomBytes(KEY_BYTES).toString('base64url');
  return { key, keyHash: hashSubscriptionKey(key) };
}

/** SHA-256 (hex) of a key as sent in `Ocp-Apim-Subscription-Key`: the only form in which keys are stored. */
export function hashSubscriptionKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

/** Bytes a base64url key decodes to, or 0 when it is not unpadded base64url. */
export function keyStrengthBytes(key: string): number {
  if (!BASE64URL.test(key) || key.length % 4 === 1) return 0;
  return Math.floor((key.length * 6) / 8);
}

/**
 * Throws unless `key` is unpadded base64url of at least 32 bytes. The message names `label` (an integrator id and
 * entry number), never the key.
 */
export function assertStrongKey(key: string, label: string): void {
  if (keyStrengthBytes(key) >= KEY_BYTES) return;
  throw new TypeError(
    `subscription key ${label} is refused: keys must be at least ${KEY_BYTES} random bytes, base64url-encoded without padding `
    + `(43 or more characters of A-Z a-z 0-9 - _); mint one with "npm run keys:new"`,
  );
}
