import type { UsageEntry } from './usage-store.ts';

/** One day of an integrator's use (UTC). */
export interface UsageDay {
  day: string;
  /** Requests by HTTP status. */
  byStatus: Record<string, number>;
  /** Requests by site (Halo GUID; `(none)` for routes without one). */
  bySite: Record<string, number>;
  total: number;
  bytes: number;
  p50Ms: number;
  p99Ms: number;
  rateLimited: number;
}

/** The value at quantile q (0..1) of sorted numbers (nearest rank). */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

/** Per-day usage, oldest first, one row for each of the last `days` days (empty days included). */
export function usageByDay(entries: readonly UsageEntry[], days: number, now = Date.now()): UsageDay[] {
  const dayOf = (ms: number) => new Date(ms).toISOString().slice(0, 10);
  const rows = new Map<string, { entries: UsageEntry[] }>();
  for (let i = days - 1; i >= 0; i--) rows.set(dayOf(now - i * 86_400_000), { entries: [] });
  for (const entry of entries) rows.get(dayOf(entry.at))?.entries.push(entry);
  return [...rows].map(([day, { entries: list }]) => {
    const byStatus: Record<string, number> = {};
    const bySite: Record<string, number> = {};
    for (const e of list) {
      byStatus[e.status] = (byStatus[e.status] ?? 0) + 1;
      const site = e.siteId ?? '(none)';
      bySite[site] = (bySite[site] ?? 0) + 1;
    }
    const durations = list.map((e) => e.durationMs).sort((a, b) => a - b);
    return {
      day, byStatus, bySite,
      total: list.length,
      bytes: list.reduce((sum, e) => sum + e.bytes, 0),
      p50Ms: quantile(durations, 0.5),
      p99Ms: quantile(durations, 0.99),
      rateLimited: list.filter((e) => e.status === 429).length,
    };
  });
}
