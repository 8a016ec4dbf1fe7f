import { randomBytes } from 'node:crypto';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';

/** The integrator id the demo's key belongs to. */
export const DEMO_INTEGRATOR_ID = 'demo';
/** The support user id the demo's support key belongs to (the "who" of its audit entries). */
export const DEMO_SUPPORT_USER_ID = 'demo-support';

const KEY = /^[A-Za-z0-9_-]{43}$/;

/**
 * The demo subscription key kept in `path` (32 random bytes, base64url, mode 0600), created on first use so the
 * key stays the same across runs.
 */
export function loadOrCreateSubscriptionKey(path: string): string {
  try {
    const existing = readFileSync(path, 'utf8').trim();
    if (KEY.test(existing)) return existing;
    throw new Error(`${path} does not hold a demo subscription key (43 base64url characters); delete it to get a new one`);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const key = randomBytes(32).toString('base64url');
  const temporary = `${path}.${process.pid}.tmp`;
  writeFileSync(temporary, `${key}\n`, { mode: 0o600 });
  renameSync(temporary, path);
  return key;
}
