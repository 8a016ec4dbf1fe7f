import { AppError, LookupResult, SiteResult, isAppError, subjects, type LookupRequest, type SiteRequest, type SiteView } from '@halo/contracts';
import type { z } from 'zod';
import { requestJson, type NatsConnection } from '@halo/messaging';
import type { SiteDirectory } from './deps.ts';

export interface RegistryDirectoryOptions {
  nc: NatsConnection;
  /** How long a site answer is reused; default 2000 ms. */
  cacheTtlMs?: number;
  /** Most sites kept; the oldest entry goes first. Default 10 000. */
  cacheMaxEntries?: number;
  /** Per registry request; default 5000 ms. */
  timeoutMs?: number;
  /** Clock in epoch ms (tests). */
  now?: () => number;
}

/**
 * SiteDirectory over the registry's NATS request-reply API. `get` answers are cached per Halo GUID for a short
 * TTL (found sites only, so a newly registered site is visible at once); concurrent misses share one request.
 */
export class RegistryDirectory implements SiteDirectory {
  readonly #nc: NatsConnection;
  readonly #ttlMs: number;
  readonly #maxEntries: number;
  readonly #timeoutMs: number;
  readonly #now: () => number;
  readonly #cache = new Map<string, { site: SiteView; expires: number }>();
  readonly #inFlight = new Map<string, Promise<SiteView | null>>();

  constructor(options: RegistryDirectoryOptions) {
    this.#nc = options.nc;
    this.#ttlMs = options.cacheTtlMs ?? 2000;
    this.#maxEntries = options.cacheMaxEntries ?? 10_000;
    this.#timeoutMs = options.timeoutMs ?? 5000;
    this.#now = options.now ?? Date.now;
  }

  /** Sites registered for a PMS ID (never cached: integrators call it rarely and expect fresh answers). */
  async lookup(req: { pmsId: string; pmsType?: string }): Promise<SiteView[]> {
    const payload: LookupRequest = { pmsId: req.pmsId, ...(req.pmsType !== undefined ? { pmsType: req.pmsType } : {}) };
    const { sites } = await this.#request(subjects.registry('lookup'), payload, LookupResult);
    for (const site of sites) this.#remember(site);
    return sites;
  }

  /** One site by Halo GUID, or null when the registry does not know it. */
  async get(haloGuid: string): Promise<SiteView | null> {
    const cached = this.#cache.get(haloGuid);
    if (cached && cached.expires > this.#now()) return cached.site;
    const pending = this.#inFlight.get(haloGuid);
    if (pending) return pending;
    const request = this.#fetch(haloGuid).finally(() => this.#inFlight.delete(haloGuid));
    this.#inFlight.set(haloGuid, request);
    return request;
  }

  /** Drops one cached site (or all): the hook for KV-watch invalidation. */
  invalidate(haloGuid?: string): void {
    if (haloGuid === undefined) this.#cache.clear();
    else this.#cache.delete(haloGuid);
  }

  async #fetch(haloGuid: string): Promise<SiteView | null> {
    const payload: SiteRequest = { haloGuid };
    const { site } = await this.#request(subjects.registry('site'), payload, SiteResult);
    if (site) this.#remember(site);
    else this.#cache.delete(haloGuid);
    return site;
  }

  #remember(site: SiteView): void {
    this.#cache.delete(site.haloGuid);
    this.#cache.set(site.haloGuid, { site, expires: this.#now() + this.#ttlMs });
    while (this.#cache.size > this.#maxEntries) {
      const oldest = this.#cache.keys().next();
      if (oldest.done) break;
      this.#cache.delete(oldest.value);
    }
  }

  async #request<S extends z.ZodType>(subject: string, payload: unknown, schema: S): Promise<z.infer<S>> {
    try {
      return await requestJson(this.#nc, subject, payload, schema, { timeoutMs: this.#timeoutMs, noResponders: 'registry_unavailable' });
    } catch (err) {
      // A slow registry is the registry's outage (503), not the integrator's deadline (504).
      if (isAppError(err) && err.code === 'deadline_exceeded') throw new AppError('registry_unavailable', 'registry did not answer in time', { cause: err });
      // Transport errors name subjects; callers (and integrators) only need to know the registry is down.
      if (isAppError(err) && err.code === 'registry_unavailable' && err.cause !== undefined) throw new AppError('registry_unavailable', 'registry unavailable', { cause: err });
      throw err;
    }
  }
}
