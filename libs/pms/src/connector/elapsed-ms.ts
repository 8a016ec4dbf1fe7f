/** Milliseconds since `started` (a performance.now() reading), to the microsecond, as a result's executionMs. */
export function elapsedMs(started: number): number {
  return Math.round((performance.now() - started) * 1000) / 1000;
}
