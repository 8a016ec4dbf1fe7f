import { KvWatchInclude, type KV } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import { z } from 'zod';
import { AppError } from '@halo/contracts';
import type { Authenticator } from '../deps.ts';
import { integratorAuthenticator, MAX_KEYS_PER_INTEGRATOR, type IntegratorKeys } from './integrators-file.ts';
import { mintSubscriptionKey } from './integrator-keys.ts';
import { openBucket } from '@halo/messaging';

/** KV bucket of key slots support rotated (from the console), shared by every facade replica. */
export const INTEGRATOR_KEYS_BUCKET = 'integrator_keys';

/** An integrator's key slots after a rotation: hashes only (a key is shown once and stored nowhere). */
export const RotatedSlots = z.object({
  slots: z.array(z.string().regex(/^[0-9a-f]{64}$/).nullable()).length(MAX_KEYS_PER_INTEGRATOR),
  /** Which slot this rotation replaced, who did it and when (the bucket keeps the last 64 per integrator). */
  slot: z.number().int().min(0).max(MAX_KEYS_PER_INTEGRATOR - 1),
  by: z.string(),
  at: z.string(),
});
export type RotatedSlots = z.infer<typeof RotatedSlots>;

const keyOf = (integratorId: string) => Buffer.from(integratorId, 'utf8').toString('hex');

/**
 * Subscription keys with slots support can rotate: the integrators configured at start (HALO_SUBSCRIPTION_KEYS,
 * HALO_INTEGRATORS_FILE) keep their PMS types and rate limits; a rotation replaces the key hash of one slot, on
 * every replica (KV watch), while the other slot keeps working, so an integrator moves to its new key without
 * downtime. Integrators are never added here, only their slots changed.
 */
export class RotatingKeys implements Authenticator {
  readonly #base: ReadonlyMap<string, IntegratorKeys>;
  readonly #rotated = new Map<string, { revision: number; slots: Array<string | null> }>();
  #inner: Authenticator;
  #kv: KV | undefined;
  #stop: () => void = () => undefined;

  constructor(integrators: readonly IntegratorKeys[]) {
    this.#base = new Map(integrators.map((i) => [i.id, i]));
    this.#inner = integratorAuthenticator(integrators);
  }

  authenticate(subscriptionKey: string | undefined) {
    return this.#inner.authenticate(subscriptionKey);
  }

  /** Each integrator's slots: whether it holds a key, as of the last rotation seen. */
  list(): Array<{ id: string; pmsTypes?: readonly string[]; slots: boolean[] }> {
    return [...this.#base.values()].map((i) => ({ id: i.id, ...(i.pmsTypes ? { pmsTypes: i.pmsTypes } : {}), slots: this.#slotsOf(i.id).map((h) => h !== null) }));
  }

  /** Opens the bucket, applies the rotations made so far and follows new ones. */
  async open(nc: NatsConnection, replicas = 1): Promise<void> {
    const kv = await openBucket(nc, INTEGRATOR_KEYS_BUCKET, { history: 64, replicas });
    this.#kv = kv;
    const iter = await kv.watch({ include: KvWatchInclude.LastValue });
    this.#stop = () => iter.stop();
    // The watch delivers the current values first: once they are in, start-up goes on with every rotation applied.
    const initial = await kv.status();
    let pending = initial.values > 0 ? Number.POSITIVE_INFINITY : 0;
    await new Promise<void>((ready) => {
      if (pending === 0) ready();
      void (async () => {
        for await (const entry of iter) {
          if (entry.operation === 'PUT') this.#apply(entry.key, entry.revision, entry.json());
          pending = entry.delta ?? 0;
          if (pending === 0) ready();
        }
      })().catch(() => ready());
    });
  }

  close(): void {
    this.#stop();
  }

  /** Mints a new key for one slot (0-based) of a configured integrator; the key is returned once, only its hash kept. */
  async rotate(integratorId: string, slot: number, by: string): Promise<string> {
    const kv = this.#kv;
    if (!kv) throw new AppError('registry_unavailable', 'key rotation is not available');
    if (!this.#base.has(integratorId)) throw new AppError('not_found', 'no such integrator');
    if (!Number.isInteger(slot) || slot < 0 || slot >= MAX_KEYS_PER_INTEGRATOR) throw new AppError('bad_request', `slot must be 1 to ${MAX_KEYS_PER_INTEGRATOR}`);
    const { key, keyHash } = mintSubscriptionKey();
    const current = await kv.get(keyOf(integratorId));
    const slots = [...this.#slotsOf(integratorId)];
    slots[slot] = keyHash;
    const value: RotatedSlots = { slots, slot, by, at: new Date().toISOString() };
    let revision: number;
    try {
      // Compare-and-set: two rotations at once would otherwise lose one of the two slots' new keys.
      revision = current && current.operation === 'PUT'
        ? await kv.update(keyOf(integratorId), JSON.stringify(value), current.revision)
        : await kv.create(keyOf(integratorId), JSON.stringify(value));
    } catch (cause) {
      throw new AppError('conflict', 'the key slots changed meanwhile; reload and rotate again', { cause });
    }
    // Applied here at once, so the key works as soon as it is shown; the watch brings the same revision again.
    this.#apply(keyOf(integratorId), revision, value);
    return key;
  }

  #slotsOf(integratorId: string): Array<string | null> {
    const rotated = this.#rotated.get(integratorId);
    if (rotated) return rotated.slots;
    const hashes = this.#base.get(integratorId)?.keyHashes ?? [];
    return Array.from({ length: MAX_KEYS_PER_INTEGRATOR }, (_, i) => hashes[i] ?? null);
  }

  #apply(key: string, revision: number, json: unknown): void {
    const parsed = RotatedSlots.safeParse(json);
    if (!parsed.success) return;
    const integratorId = Buffer.from(key, 'hex').toString('utf8');
    if (!this.#base.has(integratorId)) return;
    const seen = this.#rotated.get(integratorId);
    if (seen && seen.revision > revision) return;
    this.#rotated.set(integratorId, { revision, slots: parsed.data.slots });
    this.#inner = integratorAuthenticator([...this.#base.values()].map((i) => {
      const slots = this.#rotated.get(i.id)?.slots;
      return slots ? { ...i, keyHashes: slots.filter((h): h is string => h !== null) } : i;
    }));
  }
}
