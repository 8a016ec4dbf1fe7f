import { createAccount, createOperator, createUser, fromPublic, fromSeed, type KeyPair } from '@nats-io/nkeys';

export type { KeyPair } from '@nats-io/nkeys';
export { createAccount, createOperator, createUser };

/** A key pair from its seed text (`SO...`, `SA...`, `SU...`). */
export function keyFromSeed(seed: string): KeyPair {
  return fromSeed(new TextEncoder().encode(seed.trim()));
}

/** The seed text of a key pair (secret: never log it). */
export function seedOf(kp: KeyPair): string {
  return new TextDecoder().decode(kp.getSeed());
}

/** True when `key` is a well-formed public nkey of the given kind ('U' user, 'A' account, 'O' operator). */
export function isPublicKey(key: string, kind: 'U' | 'A' | 'O'): boolean {
  if (!key.startsWith(kind) || key.length !== 56) return false;
  try {
    fromPublic(key);
    return true;
  } catch {
    return false;
  }
}
