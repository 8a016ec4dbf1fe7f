import type { FastifyRequest } from 'fastify';
import { AppError } from '@halo/contracts';
import type { Authenticator, Principal } from '../deps.ts';
import { SUBSCRIPTION_KEY_HEADER } from '../http/openapi.ts';
import type { RateLimiter } from './rate-limit.ts';

const principals = new WeakMap<object, Principal>();

/** The onRequest check of every `/integrator/*` request: the subscription key (401), then the rate limit (429). */
export type IntegratorGate = (request: FastifyRequest) => Promise<void>;

/**
 * Builds the gate shared by every `/integrator` plugin (one limiter, so each request counts once). It runs before
 * the body is read: an unknown or throttled caller costs no parsing and learns nothing about routes or sites.
 */
export function integratorGate(auth: Authenticator, limiter?: RateLimiter): IntegratorGate {
  return async (request) => {
    const header = request.headers[SUBSCRIPTION_KEY_HEADER];
    const principal = auth.authenticate(typeof header === 'string' ? header : undefined);
    if (!principal) throw new AppError('unauthorized', 'missing or invalid subscription key');
    principals.set(request, principal);
    request.log = request.log.child({ integratorId: principal.integratorId });
    const waitSeconds = limiter?.take(principal.integratorId, principal.rateLimit) ?? 0;
    if (waitSeconds > 0) {
      throw new AppError('rate_limited', `too many requests; retry after ${waitSeconds} s`, { retryAfterSeconds: waitSeconds });
    }
  };
}

/** The integrator the gate admitted for `request`. */
export function principalOf(request: object): Principal {
  const principal = principals.get(request);
  if (!principal) throw new AppError('unauthorized', 'missing or invalid subscription key');
  return principal;
}

/** Whether the integrator may see and query sites of `pmsType`. */
export function isOnboarded(principal: Principal, pmsType: string): boolean {
  return principal.pmsTypes === undefined || principal.pmsTypes.has(pmsType);
}

/** Throws 403 `not_onboarded` unless the integrator is onboarded for `pmsType`. */
export function assertOnboarded(principal: Principal, pmsType: string): void {
  if (!isOnboarded(principal, pmsType)) throw new AppError('not_onboarded', `the integrator is not onboarded for practice management system "${pmsType}"`);
}
