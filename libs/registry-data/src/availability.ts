import type { Availability } from '@halo/contracts';

/** Heard from within this long: online. */
export const ONLINE_WITHIN_MS = 30_000;
/** Not heard from for this long: unreachable (between the two: offline). */
export const UNREACHABLE_AFTER_MS = 120_000;
/** A heartbeat whose clock is further than this from the registry's flags the link's clock as drifting. */
export const MAX_CLOCK_DRIFT_MS = 60_000;

/** The availability and drift thresholds (configurable so tests need not wait minutes). */
export interface Thresholds {
  onlineWithinMs: number;
  unreachableAfterMs: number;
  maxClockDriftMs: number;
}

export const DEFAULT_THRESHOLDS: Thresholds = {
  onlineWithinMs: ONLINE_WITHIN_MS,
  unreachableAfterMs: UNREACHABLE_AFTER_MS,
  maxClockDriftMs: MAX_CLOCK_DRIFT_MS,
};

/**
 * Availability of a link from when it was last heard from (ARCHITECTURE §5). `stoppedAt` is set when the
 * agent's last heartbeat said it was stopping: offline at once rather than after the online window.
 */
export function availabilityOf(lastSeen: string | undefined, now = Date.now(), thresholds: Thresholds = DEFAULT_THRESHOLDS, stoppedAt?: string): Availability {
  if (!lastSeen) return 'unreachable';
  const age = now - Date.parse(lastSeen);
  if (age >= thresholds.unreachableAfterMs) return 'unreachable';
  if (stoppedAt !== undefined && Date.parse(stoppedAt) >= Date.parse(lastSeen)) return 'offline';
  return age <= thresholds.onlineWithinMs ? 'online' : 'offline';
}

/** True when the agent's clock is off the registry's by more than the allowed drift. */
export function hasClockDrift(clockSkewMs: number | undefined, thresholds: Thresholds = DEFAULT_THRESHOLDS): boolean {
  return clockSkewMs !== undefined && Math.abs(clockSkewMs) > thresholds.maxClockDriftMs;
}
