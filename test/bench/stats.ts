/** Percentile of sorted numbers (nearest rank). */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}

export interface LatencyFigures {
  p50: number;
  p99: number;
  mean: number;
  n: number;
}

/** Runs `op` sequentially `n` times (after `warmup` runs): each run's milliseconds. */
export async function sequentialTimes(op: () => Promise<unknown>, n: number, warmup = Math.ceil(n / 10)): Promise<number[]> {
  for (let i = 0; i < warmup; i++) await op();
  const times: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await op();
    times.push(performance.now() - t0);
  }
  return times;
}

/** p50, p99 and mean of run times in milliseconds. */
export function latencyOf(times: readonly number[]): LatencyFigures {
  const sorted = [...times].sort((a, b) => a - b);
  return { p50: percentile(sorted, 50), p99: percentile(sorted, 99), mean: sorted.reduce((a, b) => a + b, 0) / sorted.length, n: sorted.length };
}

/** Runs `total` operations with `inFlight` at a time and reports operations per second. */
export async function throughput(op: () => Promise<unknown>, total: number, inFlight: number): Promise<number> {
  let next = 0;
  const t0 = performance.now();
  const worker = async () => {
    while (next < total) {
      next++;
      await op();
    }
  };
  await Promise.all(Array.from({ length: inFlight }, worker));
  return total / ((performance.now() - t0) / 1000);
}

export function fmt(n: number, digits = 2): string {
  return Number.isFinite(n) ? n.toFixed(digits) : 'n/a';
}
