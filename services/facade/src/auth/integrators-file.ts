import { timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import { Environment, PmsType } from '@halo/contracts';
import type { Authenticator, Principal } from '../deps.ts';
import { hashSubscriptionKey } from './integrator-keys.ts';
import { RateLimit } from './rate-limit.ts';

/** Keys an integrator may hold at once: the current one and the next (rotation without downtime). */
export const MAX_KEYS_PER_INTEGRATOR = 2;

const KeyHash = z.string().regex(/^[0-9a-f]{64}$/, 'must be a lowercase hex SHA-256 (npm run keys:new prints one)');

/** One integrator of HALO_INTEGRATORS_FILE: key hashes, the environment its keys are for, onboarded PMS types. */
export const Integrator = z.object({
  id: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/, 'must be 1-64 letters, digits, "_", "." or "-"'),
  env: Environment,
  keyHashes: z.array(KeyHash).min(1).max(MAX_KEYS_PER_INTEGRATOR),
  /** PMS types the integrator is onboarded for; sites of other types answer 403 `not_onboarded`. */
  pmsTypes: z.array(PmsType),
  /** Own request rate; default the facade's. */
  rateLimit: RateLimit.optional(),
}).strict();
export type Integrator = z.infer<typeof Integrator>;

/** The whole HALO_INTEGRATORS_FILE: ids and key hashes are unique across integrators. */
export const IntegratorsFile = z.array(Integrator).superRefine((list, ctx) => {
  const ids = new Set<string>();
  const hashes = new Set<string>();
  list.forEach((integrator, i) => {
    if (ids.has(integrator.id)) ctx.addIssue({ code: 'custom', path: [i, 'id'], message: 'integrator id appears twice' });
    ids.add(integrator.id);
    integrator.keyHashes.forEach((hash, k) => {
      if (hashes.has(hash)) ctx.addIssue({ code: 'custom', path: [i, 'keyHashes', k], message: 'key hash appears twice' });
      hashes.add(hash);
    });
  });
});
export type IntegratorsFile = z.infer<typeof IntegratorsFile>;

/** Parses the text of HALO_INTEGRATORS_FILE; errors name paths, never values (a list of hashes is not secret, but stays out of logs). */
export function parseIntegrators(text: string): Integrator[] {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new TypeError('integrators file is not valid JSON');
  }
  const parsed = IntegratorsFile.safeParse(json);
  if (!parsed.success) {
    const where = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
    throw new TypeError(`integrators file is invalid: ${where}`);
  }
  return parsed.data;
}

/** What authentication needs of an integrator; `pmsTypes` omitted means every PMS type (in-process use only). */
export interface IntegratorKeys {
  id: string;
  keyHashes: readonly string[];
  pmsTypes?: readonly string[];
  rateLimit?: RateLimit;
}

/**
 * Authenticates subscription keys against integrators' key hashes. Only SHA-256 hashes are held; every entry is
 * compared in constant time with no early exit, so timing says nothing about which (if any) matched.
 */
export function integratorAuthenticator(integrators: readonly IntegratorKeys[]): Authenticator {
  const entries = integrators.flatMap((integrator) => {
    const principal: Principal = {
      integratorId: integrator.id,
      ...(integrator.pmsTypes ? { pmsTypes: new Set(integrator.pmsTypes) } : {}),
      ...(integrator.rateLimit ? { rateLimit: integrator.rateLimit } : {}),
    };
    return integrator.keyHashes.map((hex) => ({ hash: Buffer.from(hex, 'hex'), principal }));
  });
  return {
    authenticate(subscriptionKey) {
      if (!subscriptionKey) return null;
      const hash = Buffer.from(hashSubscriptionKey(subscriptionKey), 'hex');
      let found: Principal | null = null;
      for (const entry of entries) {
        if (timingSafeEqual(hash, entry.hash) && found === null) found = entry.principal;
      }
      return found;
    },
  };
}
