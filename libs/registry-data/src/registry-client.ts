import type { z } from 'zod';
import {
  AppError, LookupResult, PairResult, SiteResult, isAppError, subjects,
  type LookupRequest, type PairRequest, type SiteRequest, type SiteView,
} from '@halo/contracts';
import { requestJson, type NatsConnection } from '@halo/messaging';

/** A request to the registry; every way it can fail is registry_unavailable (503) with a plain message. */
export async function requestRegistry<S extends z.ZodType>(nc: NatsConnection, subject: string, payload: unknown, schema: S, timeoutMs: number): Promise<z.infer<S>> {
  try {
    return await requestJson(nc, subject, payload, schema, { timeoutMs, noResponders: 'registry_unavailable' });
  } catch (err) {
    // A slow registry is the registry's outage (503), not the integrator's deadline (504).
    if (isAppError(err) && err.code === 'deadline_exceeded') throw new AppError('registry_unavailable', 'registry did not answer in time', { cause: err });
    // Transport errors name subjects; callers (and integrators) only need to know the registry is down.
    if (isAppError(err) && err.code === 'registry_unavailable' && err.cause !== undefined) throw new AppError('registry_unavailable', 'registry unavailable', { cause: err });
    throw err;
  }
}

/** The registry's read verbs as the facade and the worker call them (site, lookup, pair). */
export class RegistryClient {
  readonly #nc: NatsConnection;
  readonly #timeoutMs: number;

  constructor(nc: NatsConnection, options: { timeoutMs: number }) {
    this.#nc = nc;
    this.#timeoutMs = options.timeoutMs;
  }

  /** One site by Halo GUID, or null when the registry does not know it. */
  async site(haloGuid: string): Promise<SiteView | null> {
    const payload: SiteRequest = { haloGuid };
    return (await this.request(subjects.registry('site'), payload, SiteResult)).site;
  }

  /** Sites registered for a PMS ID. */
  async lookup(payload: LookupRequest): Promise<SiteView[]> {
    return (await this.request(subjects.registry('lookup'), payload, LookupResult)).sites;
  }

  /** Pairs an integrator with the site whose PMS issued the code; null when no site did. */
  async pair(payload: PairRequest): Promise<SiteView | null> {
    return (await this.request(subjects.registry('pair'), payload, PairResult)).site;
  }

  /** Any other registry verb, with the same failure mapping. */
  request<S extends z.ZodType>(subject: string, payload: unknown, schema: S): Promise<z.infer<S>> {
    return requestRegistry(this.#nc, subject, payload, schema, this.#timeoutMs);
  }
}
