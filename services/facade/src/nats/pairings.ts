import type { KV } from '@nats-io/kv';
import { bindBucket, type NatsConnection } from '@halo/messaging';
import { AppError } from '@halo/contracts';
import { BUCKETS, pairingKey } from '@halo/registry-data';
import type { Pairings } from '../deps.ts';

/** Most pairings remembered per replica; a pairing is never undone, so a remembered one stays true. */
const MAX_REMEMBERED = 100_000;

/**
 * Reads the registry's KV `pairings` (written by `halo.v1.registry.pair`). A pairing found is remembered; one not
 * found is asked again next time, so a new pairing counts at once on every replica.
 */
export class NatsPairings implements Pairings {
  readonly #nc: NatsConnection;
  readonly #known = new Set<string>();
  #kv: Promise<KV> | undefined;

  constructor(nc: NatsConnection) {
    this.#nc = nc;
  }

  async isPaired(integratorId: string, site: { pmsType: string; pmsId: string }): Promise<boolean> {
    const key = pairingKey(integratorId, site);
    if (this.#known.has(key)) return true;
    let found: boolean;
    try {
      this.#kv ??= bindBucket(this.#nc, BUCKETS.pairings);
      const entry = await (await this.#kv).get(key);
      found = entry !== null && entry.operation === 'PUT';
    } catch (cause) {
      this.#kv = undefined;
      throw new AppError('registry_unavailable', 'pairings could not be read', { cause });
    }
    if (found) {
      if (this.#known.size >= MAX_REMEMBERED) this.#known.clear();
      this.#known.add(key);
    }
    return found;
  }
}
