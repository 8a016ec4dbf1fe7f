// Steady integrator load for the cluster fault suite and bench: immediate queries from a few loops, and batches of
// async queries followed to their end, all through haproxy as an integrator would call it.
import { setTimeout as sleep } from 'node:timers/promises';
import type { HaloAsyncState } from '@halo/contracts';
import type { FacadeCall } from '@halo/demo';

/** Halo's async states a query can still leave. */
const OPEN_STATES: ReadonlySet<string> = new Set<HaloAsyncState>(['initialising', 'queued', 'executing', 'uploading']);

/** One request as the client saw it. */
export interface Outcome {
  startedAt: number;
  endedAt: number;
  /** HTTP status, 0 when no answer came (connection cut, or our deadline). */
  status: number;
  ok: boolean;
  /** The error envelope's code, or the client error's message. */
  error?: string;
  /** The client gave up at its deadline: the request hung. */
  hung: boolean;
}

/** Longer than any answer the facade may take (HALO_QUERY_TIMEOUT_MS 30 s plus queueing): past it a request hung. */
export const CLIENT_DEADLINE_MS = 45_000;

const codeOf = (body: unknown): string | undefined => (body as { error?: { code?: string } } | undefined)?.error?.code;

/** One call, timed; never throws. */
export async function timed(call: FacadeCall, path: string, init: Parameters<FacadeCall>[1], isOk: (status: number, body: unknown) => boolean): Promise<Outcome> {
  const startedAt = Date.now();
  try {
    const res = await call(path, { ...init, timeoutMs: CLIENT_DEADLINE_MS });
    const ok = isOk(res.status, res.body);
    const error = ok ? undefined : codeOf(res.body) ?? `HTTP ${res.status}`;
    return { startedAt, endedAt: Date.now(), status: res.status, ok, hung: false, ...(error ? { error } : {}) };
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    return { startedAt, endedAt: Date.now(), status: 0, ok: false, error: message, hung: /in time/.test(message) };
  }
}

/** Runs `once` from `loops` loops until stop(); stop() resolves with every outcome in start order. */
export function steady(loops: number, once: () => Promise<Outcome>, pauseMs = 50): { stop(): Promise<Outcome[]> } {
  const outcomes: Outcome[] = [];
  let running = true;
  const workers = Array.from({ length: loops }, async () => {
    while (running) {
      outcomes.push(await once());
      await sleep(pauseMs);
    }
  });
  return {
    async stop() {
      running = false;
      await Promise.all(workers);
      return outcomes.sort((a, b) => a.startedAt - b.startedAt);
    },
  };
}

/** An immediate one-row query on `siteId`. */
export function immediateQuery(call: FacadeCall, key: string, siteId: string): () => Promise<Outcome> {
  return () => timed(call, `/integrator/sites/${siteId}/queries/immediate`, {
    body: { command: { text: 'SELECT 1 AS one', executionMode: 'reader' } }, headers: { 'Ocp-Apim-Subscription-Key': key },
  }, (status, body) => status === 200 && (body as { status?: string }).status === 'successful');
}

/** A site lookup by PMS ID (the registry's work). */
export function siteLookup(call: FacadeCall, key: string, pmsId: string): () => Promise<Outcome> {
  return () => timed(call, `/integrator/sites?practiceManagementSiteId=${encodeURIComponent(pmsId)}`, { headers: { 'Ocp-Apim-Subscription-Key': key } },
    (status, body) => status === 200 && Array.isArray((body as { sites?: unknown }).sites) && (body as { sites: unknown[] }).sites.length > 0);
}

/** Submits `count` async queries (each takes `seconds` on the agent), retrying a submission the cluster refused. */
export async function submitAsync(call: FacadeCall, key: string, siteId: string, count: number, seconds = 1): Promise<string[]> {
  // A recursive count that runs about `seconds` on SQLite, so the batch is in flight when the fault comes.
  const text = `WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < ${seconds * 1_500_000}) SELECT count(*) AS c FROM n`;
  const ids: string[] = [];
  for (let i = 0; i < count; i++) {
    for (let attempt = 1; ; attempt++) {
      const res = await call(`/integrator/sites/${siteId}/queries/async`, { body: { command: { text } }, headers: { 'Ocp-Apim-Subscription-Key': key }, timeoutMs: 15_000 }).catch(() => undefined);
      const id = res?.status === 201 ? (res.body as { id?: string }).id : undefined;
      if (id) {
        ids.push(id);
        break;
      }
      if (attempt === 5) throw new Error(`async submission refused: ${res ? `HTTP ${res.status} ${JSON.stringify(res.body)}` : 'no answer'}`);
      await sleep(500);
    }
  }
  return ids;
}

/** Polls each async query to its terminal state (or `timeoutMs`); returns id -> last state seen (with its error code). */
export async function settleAsync(call: FacadeCall, key: string, siteId: string, ids: readonly string[], timeoutMs = 120_000): Promise<Map<string, string>> {
  const states = new Map<string, string>(ids.map((id) => [id, 'unknown']));
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    const open = [...states].filter(([, s]) => s === 'unknown' || OPEN_STATES.has(s));
    if (open.length === 0) break;
    for (const [id] of open) {
      const res = await call(`/integrator/sites/${siteId}/queries/${id}`, { headers: { 'Ocp-Apim-Subscription-Key': key } }).catch(() => undefined);
      const body = res?.body as { status?: HaloAsyncState; error?: { code?: string } } | undefined;
      if (res?.status === 200 && body?.status) states.set(id, body.error?.code ? `${body.status}: ${body.error.code}` : body.status);
    }
    await sleep(500);
  }
  return states;
}

/**
 * How long integrators saw failures after `faultAt`: from the fault to the end of the last failed request that
 * started after it (0 when none failed).
 */
export function recoveryMs(outcomes: readonly Outcome[], faultAt: number): number {
  const failed = outcomes.filter((o) => !o.ok && o.startedAt >= faultAt - 1_000);
  return failed.length === 0 ? 0 : Math.max(...failed.map((o) => o.endedAt)) - faultAt;
}

/** A line for the report: counts, failures by error, recovery. */
export function summarise(name: string, outcomes: readonly Outcome[], faultAt: number): string {
  const failed = outcomes.filter((o) => !o.ok);
  const byError = new Map<string, number>();
  for (const o of failed) byError.set(o.error ?? `HTTP ${o.status}`, (byError.get(o.error ?? `HTTP ${o.status}`) ?? 0) + 1);
  const errors = [...byError].map(([e, n]) => `${n}x ${e.slice(0, 80)}`).join('; ');
  const slowest = Math.max(0, ...outcomes.filter((o) => o.endedAt >= faultAt).map((o) => o.endedAt - o.startedAt));
  return `${name}: ${outcomes.length} requests, ${failed.length} failed${errors ? ` (${errors})` : ''}, recovered ${recoveryMs(outcomes, faultAt)} ms after the fault, slowest request answered after the fault took ${slowest} ms`;
}
