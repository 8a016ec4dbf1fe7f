import { z } from 'zod';

/** A token bucket: `perSecond` tokens refill each second, up to `burst`; each request takes one. */
export const RateLimit = z.object({
  perSecond: z.number().positive().max(1_000_000),
  burst: z.number().int().positive().max(1_000_000),
}).strict();
export type RateLimit = z.infer<typeof RateLimit>;

/** Admits or refuses one request of a caller. */
export interface RateLimiter {
  /** Takes a token from `key`'s bucket: 0 when admitted, else whole seconds until a token is available (>= 1). */
  take(key: string, limit?: RateLimit): number;
}

/**
 * In-memory token buckets, one per key (integrator id). With N facade replicas each enforces 1/N of the rate and
 * burst (`shares`, from `FacadeReplicas`), so an integrator gets its limit across all of them with no NATS round
 * trip per request; see FacadeReplicas for the error of this. The burst share is at least one token, else a burst
 * below N would admit nothing. Buckets exist only for known integrators (callers authenticate first), so memory is
 * bounded.
 */
export class TokenBucketLimiter implements RateLimiter {
  readonly #buckets = new Map<string, { tokens: number; at: number }>();
  readonly #defaultLimit: RateLimit | undefined;
  readonly #now: () => number;
  readonly #shares: () => number;

  /**
   * `defaultLimit` applies to keys taken without a limit of their own; without either, every request passes.
   * `shares`: into how many parts each limit is split (the live replicas); default 1.
   */
  constructor(options: { defaultLimit?: RateLimit; now?: () => number; shares?: () => number } = {}) {
    this.#defaultLimit = options.defaultLimit;
    this.#now = options.now ?? Date.now;
    this.#shares = options.shares ?? (() => 1);
  }

  take(key: string, whole: RateLimit | undefined = this.#defaultLimit): number {
    if (!whole) return 0;
    const shares = Math.max(1, this.#shares());
    const limit = { perSecond: whole.perSecond / shares, burst: Math.max(1, whole.burst / shares) };
    const now = this.#now();
    const bucket = this.#buckets.get(key) ?? { tokens: limit.burst, at: now };
    bucket.tokens = Math.min(limit.burst, bucket.tokens + (Math.max(0, now - bucket.at) / 1000) * limit.perSecond);
    bucket.at = now;
    this.#buckets.set(key, bucket);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return 0;
    }
    return Math.max(1, Math.ceil((1 - bucket.tokens) / limit.perSecond));
  }
}
