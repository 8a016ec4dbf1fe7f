import type { Availability } from '@halo/contracts';

/** Heard from within this long: online. */
export const ONLINE_WITHIN_MS = 30_000;
/** Not heard from for this long: unreachable (between the two: offline). */
export const UNREACHABLE_AFTER_MS = 120_000;

/** Availability of a link from when it was last heard from (ARCHITECTURE §5). */
export function availabilityOf(lastSeen: string | undefined, now = Date.now()): Availability {
  if (!lastSeen) return 'unreachable';
  const age = now - Date.parse(lastSeen);
  if (age <= ONLINE_WITHIN_MS) return 'online';
  return age >= UNREACHABLE_AFTER_MS ? 'unreachable' : 'offline';
}
