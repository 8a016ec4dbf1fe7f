import { randomBytes, randomUUID } from 'node:crypto';
import type { JsMsg } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import {
  AppError, ErrorStatus, REGISTERED_LIMITS, RegisteredTick, isAppError, tickDueAt,
  type ErrorCode, type QueryRequest, type RegisteredErrorDetails, type RegisteredQueryRecord, type RegisteredQueryResult,
} from '@halo/contracts';
import { ReplyRouter, decodeJson } from '@halo/messaging';
import type { Logger } from '@halo/log';
import { openRegisteredResources, openTickConsumer, openWebhookResources, publishTick } from '@halo/async-queries';
import { RegistryClient, assertQueryable } from '@halo/registry-data';
import { HaloResultEncoder } from './halo-result.ts';
import { abandonable, errName, sleep } from './pull.ts';
import { registeredChangeEvent } from './webhook-events.ts';

export interface RegisteredSchedulerDeps {
  /** An open connection; the caller owns it. */
  nc: NatsConnection;
  log: Logger;
  /** Stream and bucket replicas when this process creates them. Default 1. */
  replicas?: number;
  /** Ticks run at once by this process. Default 4. */
  concurrency?: number;
  /** Redelivery delay of a tick whose worker died mid-run (working() keeps a running tick's lease). Default 30 s. */
  ackWaitMs?: number;
  /** Budget of one run at the agent (queue wait included). Default 5 min. */
  executionTimeoutMs?: number;
  /** How long one pull waits for work (at least 1 s). Default 5 s. */
  pullExpiresMs?: number;
  /** Wait before pulling again after a pull failed. Default 1 s. */
  pullRetryMs?: number;
  /** Largest result kept (JSON bytes). Default REGISTERED_LIMITS.maxResultBytes. */
  maxResultBytes?: number;
  /** Agent silence (no chunk, no keep-alive) after which a run lost its agent. Default the messaging default. */
  stallMs?: number;
  requesterId?: string;
}

/** Plain counters of this process's registered query ticks (for metrics; no labels, no data). */
export const registeredCounters = { ticksRun: 0, ticksFailed: 0, ticksSkipped: 0, ticksRetried: 0 };

type Outcome =
  | { ok: true; result: RegisteredQueryResult; hash: string; executionMs: number }
  | { ok: false; error: RegisteredErrorDetails };

/**
 * Runs registered queries on schedule. Each registered query has exactly one tick message in the
 * `REGISTERED_TICKS` work-queue stream at a time: a worker that pulls it before it is due hands it back with the
 * delay left (the server keeps it, so no worker has to stay up); when due, one worker runs it, records its
 * outcome by compare-and-set on `lastTick` (a tick is recorded once, even when a worker died mid-run and the tick
 * ran again elsewhere), publishes the next tick (msgID `<id>.<n>`, so publishing it twice schedules it once) and
 * only then acks. The schedule ends at `duration`, or when the query is cancelled.
 */
export async function startRegisteredScheduler(deps: RegisteredSchedulerDeps): Promise<{ close(): Promise<void> }> {
  const { nc, log } = deps;
  const replicas = deps.replicas ?? 1;
  const concurrency = deps.concurrency ?? 4;
  const ackWaitMs = deps.ackWaitMs ?? 30_000;
  const executionTimeoutMs = deps.executionTimeoutMs ?? 5 * 60_000;
  const pullExpiresMs = Math.max(1_000, deps.pullExpiresMs ?? 5_000);
  const pullRetryMs = deps.pullRetryMs ?? 1_000;
  const maxResultBytes = deps.maxResultBytes ?? REGISTERED_LIMITS.maxResultBytes;
  const store = await openRegisteredResources(nc, { replicas });
  const webhooks = await openWebhookResources(nc, { replicas });
  const consumer = await openTickConsumer(nc, ackWaitMs);
  const registry = new RegistryClient(nc, { timeoutMs: 5_000 });
  const router = new ReplyRouter({ nc, requesterId: deps.requesterId ?? `rq${randomBytes(12).toString('hex')}`, log });
  const running = new Set<AbortController>();
  const inFlight = new Set<Promise<void>>();
  const stop = new AbortController();
  let closing = false;
  let freed: (() => void) | undefined;

  const loop = (async () => {
    while (!closing) {
      if (inFlight.size >= concurrency) {
        await new Promise<void>((resolve) => { freed = resolve; });
        continue;
      }
      let msg: JsMsg | null;
      try {
        msg = await abandonable(consumer.next({ expires: pullExpiresMs }), stop.signal);
      } catch (err) {
        if (closing) break;
        log.warn({ err: errName(err) }, 'pulling registered query ticks failed; retrying');
        await sleep(pullRetryMs, stop.signal);
        continue;
      }
      if (!msg) continue;
      const task = handle(msg).finally(() => {
        inFlight.delete(task);
        freed?.();
      });
      inFlight.add(task);
    }
  })();

  async function handle(msg: JsMsg): Promise<void> {
    const heartbeat = setInterval(() => {
      try {
        msg.working();
      } catch {
        // Connection gone: the tick is redelivered after ack_wait.
      }
    }, Math.max(200, Math.floor(ackWaitMs / 3)));
    try {
      const settle = await processTick(msg);
      if (settle === 'ack') msg.ack();
      else if (settle === 'term') msg.term();
      else msg.nak(settle.delayMs);
    } catch (err) {
      // KV or hub outage: the tick comes back shortly; its outcome is recorded at most once whatever happens.
      registeredCounters.ticksRetried++;
      log.warn({ err: errName(err), seq: msg.seq }, 'registered query tick failed unexpectedly; retrying');
      try {
        msg.nak(1_000);
      } catch {
        // Redelivered after ack_wait.
      }
    } finally {
      clearInterval(heartbeat);
    }
  }

  async function processTick(msg: JsMsg): Promise<'ack' | 'term' | { delayMs: number }> {
    let tick: RegisteredTick;
    try {
      tick = decodeJson(RegisteredTick, msg.data);
    } catch {
      log.warn({ seq: msg.seq }, 'malformed registered query tick dropped');
      return 'term';
    }
    const tickLog = log.child({ registeredId: tick.id, siteId: tick.siteId, tick: tick.tick });
    const current = await store.records.get(tick.siteId, tick.id);
    if (!current) return 'term';
    const record = current.record;
    if (record.status !== 'enabled') return 'ack';
    if (record.lastTick >= tick.tick) {
      // Recorded by a worker that stopped before it acked: finish its work (both publishes are idempotent).
      if (record.lastHashTick === tick.tick) await registeredChangeEvent(webhooks, record, tick.tick);
      const next = nextTick(record, tick.tick, Date.now());
      if (next) await publishTick(store.js, { id: tick.id, siteId: tick.siteId, tick: next.tick, dueAt: next.dueAt });
      return 'ack';
    }
    const now = Date.now();
    if (tick.dueAt > now) return { delayMs: tick.dueAt - now };

    tickLog.info('registered query tick running');
    const outcome = await runTick(record, tickLog);
    if (closing) return { delayMs: 0 };
    if (outcome.ok && outcome.hash !== record.lastHash) await store.results.put(record.id, outcome.result);
    const at = Date.now();
    // The schedule and lastHash are written only by the worker holding this tick; a concurrent cancel changes neither.
    const next = nextTick(record, tick.tick, at);
    const changed = outcome.ok && outcome.hash !== record.lastHash;
    const written = await store.records.update(tick.siteId, tick.id, (r) => {
      if (r.status !== 'enabled' || r.lastTick >= tick.tick) return null;
      const iso = new Date(at).toISOString();
      const updated: RegisteredQueryRecord = outcome.ok
        ? {
          ...r,
          lastHash: outcome.hash,
          ...(changed ? { lastHashTick: tick.tick } : {}),
          metrics: {
            ...r.metrics,
            lastSucceededAt: iso,
            lastExecutionDuration: outcome.executionMs,
            executionSucceededCount: r.metrics.executionSucceededCount + 1,
            resultSizeSum: r.metrics.resultSizeSum + outcome.result.size,
          },
        }
        : {
          ...r,
          lastErrorDetails: outcome.error,
          metrics: { ...r.metrics, lastFailedAt: iso, executionFailedCount: r.metrics.executionFailedCount + 1 },
        };
      updated.lastTick = tick.tick;
      updated.skippedTicks = r.skippedTicks + (next?.skipped ?? 0);
      if (!next) {
        updated.status = 'completed';
        updated.completedAt = at;
      }
      return updated;
    });
    if (!written) return 'ack';
    if (outcome.ok) registeredCounters.ticksRun++;
    else registeredCounters.ticksFailed++;
    registeredCounters.ticksSkipped += next?.skipped ?? 0;
    tickLog.info({ ok: outcome.ok, changed, ...(outcome.ok ? { rows: outcome.result.rows, executionMs: outcome.executionMs } : { code: outcome.error.code }), next: next?.tick ?? null, skipped: next?.skipped ?? 0 }, 'registered query tick recorded');
    if (changed) await registeredChangeEvent(webhooks, written, tick.tick);
    if (next) await publishTick(store.js, { id: tick.id, siteId: tick.siteId, tick: next.tick, dueAt: next.dueAt });
    else tickLog.info('registered query completed');
    return 'ack';
  }

  async function runTick(record: RegisteredQueryRecord, tickLog: Logger): Promise<Outcome> {
    const controller = new AbortController();
    running.add(controller);
    try {
      const site = assertQueryable(await registry.site(record.siteId));
      const now = Date.now();
      const queueMs = Math.min(record.frequency * 1000, 60_000);
      const request: QueryRequest = {
        queryId: randomUUID(),
        haloGuid: record.siteId,
        mode: 'async',
        ...(record.catalogue !== undefined ? { catalogue: record.catalogue } : {}),
        command: record.command,
        maxTimeInQueueMs: queueMs,
        deadline: now + queueMs + executionTimeoutMs,
      };
      const stream = router.start({ linkGuid: site.linkGuid }, request, { signal: controller.signal, ...(deps.stallMs !== undefined ? { stallMs: deps.stallMs } : {}) });
      await stream.columns();
      const encoder = new HaloResultEncoder(maxResultBytes);
      for await (const chunk of stream) encoder.add(chunk);
      const summary = await stream.summary();
      return { ok: true, ...encoder.finish(), executionMs: Math.round(summary.timings.executionMs) };
    } catch (err) {
      const error = errorDetails(err);
      tickLog.info({ code: error.code }, 'registered query run failed');
      return { ok: false, error };
    } finally {
      running.delete(controller);
    }
  }

  return {
    async close() {
      if (closing) return;
      closing = true;
      stop.abort();
      freed?.();
      for (const controller of running) controller.abort(new AppError('internal', 'worker stopping'));
      await loop;
      await Promise.allSettled([...inFlight]);
      await router.close();
      log.info('registered query scheduler stopped');
    },
  };
}

/**
 * The tick to run after tick `n`: n + 1, or, when every worker was away for longer than a frequency, the latest
 * tick already due (the ones in between are skipped, not run back to back). Null when the schedule has ended.
 */
export function nextTick(record: Pick<RegisteredQueryRecord, 'createdAt' | 'frequency' | 'duration'>, n: number, now: number): { tick: number; dueAt: number; skipped: number } | null {
  let k = n + 1;
  if (tickDueAt(record, k) === null) return null;
  for (;;) {
    const after = tickDueAt(record, k + 1);
    if (after === null || after > now) break;
    k++;
  }
  return { tick: k, dueAt: tickDueAt(record, k)!, skipped: k - n - 1 };
}

/** Halo's lastErrorDetails: `haloLink` errors carry the HTTP status of our code as errorCode. */
function errorDetails(err: unknown): RegisteredErrorDetails {
  const code: ErrorCode = isAppError(err) ? err.code : 'internal';
  const message = isAppError(err) ? err.message.slice(0, 1000) : 'internal error';
  return { errorType: 'haloLink', errorCode: ErrorStatus[code], errorMessage: message, code };
}
