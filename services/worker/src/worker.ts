import { randomBytes, randomUUID } from 'node:crypto';
import type { JsMsg } from '@nats-io/jetstream';
import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import {
  ASYNC_LIMITS, AppError, AsyncJob, isAppError, isTerminalAsyncState, subjects,
  type AsyncQueryRecord, type Cell, type ColumnInfo, type EndChunk, type ErrorCode, type QueryRequest, type SiteView,
} from '@halo/contracts';
import { ReplyRouter, decodeJson, type ResultStream, type RowBytes } from '@halo/messaging';
import type { Logger } from '@halo/log';
import { AsyncRecords, openAsyncResources, openWorkConsumer, openWebhookResources, withState } from '@halo/async-queries';
import { RegistryClient, assertQueryable } from '@halo/registry-data';
import { PageWriter, UploadError, deletePagesFrom } from './page-writer.ts';
import { WorkerCounts, recordWorkerMetrics } from './worker-metrics.ts';
import type { Registry } from '@halo/metrics';
import { abandonable, errName, sleep } from './pull.ts';
import { asyncSuccessEvent } from './webhook-events.ts';

export interface WorkerDeps {
  /** An open connection; the caller owns it (close() never drains or closes it). */
  nc: NatsConnection;
  log: Logger;
  /** Stream and bucket replicas when this worker creates them: 1 (dev), 3 (production). Default 1. */
  replicas?: number;
  /** Lifetime of results after their first page was written. Default 24 h. */
  resultTtlMs?: number;
  /** Queries run at once by this worker. Default 4. */
  concurrency?: number;
  /** Redelivery delay of a job whose worker died (heartbeats keep a running job's lease). Default 30 s. */
  ackWaitMs?: number;
  /** Budget for running a query once it has left the agent's queue. Default 30 min. */
  executionTimeoutMs?: number;
  /** Longest wait between attempts while a site is offline or busy (backoff from 500 ms). Default 15 s. */
  retryMaxMs?: number;
  /** Target raw bytes of a result page. Default ASYNC_LIMITS.pageBytes (1 MiB). */
  pageBytes?: number;
  /**
   * Longest silence of an agent (no chunk, no keep-alive) while it owes us chunks: the run then lost its agent
   * (`agent_lost`). Default the messaging default (30 s). A slow statement is not silence: agents send keep-alives.
   */
  stallMs?: number;
  /** How often agents are asked for a keep-alive while they send no chunks. Default stallMs / 3. */
  keepAliveMs?: number;
  /** Most runs of a read whose agent was lost (killed, frozen, cut off); a nonQuery runs at most once. Default 3. */
  maxAttempts?: number;
  /** How long one pull waits for work (at least 1 s). Default 5 s. */
  pullExpiresMs?: number;
  /** Wait before pulling again after a pull failed (hub or consumer gone). Default 1 s. */
  pullRetryMs?: number;
  /** Whole subject token naming this requester. Default: random. */
  requesterId?: string;
  /** Where the worker's series go (served on HALO_METRICS_PORT by main.ts); without it none are recorded. */
  metrics?: Registry;
}

/** A running worker. */
export interface RunningWorker {
  /** Stops pulling, hands running queries back to the queue (they re-run elsewhere) and waits for that. */
  close(): Promise<void>;
}

type Outcome = { kind: 'ack' } | { kind: 'retry'; delayMs: number } | { kind: 'term' };
const ACK: Outcome = { kind: 'ack' };

/**
 * Starts an async query worker: pulls jobs from the work-queue stream (bounded concurrency, explicit acks,
 * `working()` heartbeats), runs each against its site's agent with the chunk protocol, and writes the rows to the
 * result store in pages. Any number of workers share the durable consumer.
 */
export async function startWorker(deps: WorkerDeps): Promise<RunningWorker> {
  const { nc } = deps;
  const log = deps.log;
  const resultTtlMs = deps.resultTtlMs ?? ASYNC_LIMITS.defaultResultTtlMs;
  const concurrency = deps.concurrency ?? 4;
  const ackWaitMs = deps.ackWaitMs ?? 30_000;
  const executionTimeoutMs = deps.executionTimeoutMs ?? 30 * 60_000;
  const retryMaxMs = deps.retryMaxMs ?? 15_000;
  const pageBytes = deps.pageBytes ?? ASYNC_LIMITS.pageBytes;
  const maxAttempts = Math.max(1, deps.maxAttempts ?? 3);
  const streamOptions = {
    ...(deps.stallMs !== undefined ? { stallMs: deps.stallMs } : {}),
    ...(deps.keepAliveMs !== undefined ? { keepAliveMs: deps.keepAliveMs } : {}),
  };
  // The client refuses pulls shorter than a second.
  const pullExpiresMs = Math.max(1_000, deps.pullExpiresMs ?? 5_000);
  const pullRetryMs = deps.pullRetryMs ?? 1_000;

  const store = await openAsyncResources(nc, { replicas: deps.replicas ?? 1, resultTtlMs, log });
  const consumer = await openWorkConsumer(nc, ackWaitMs);
  const records = new AsyncRecords(store.records);
  const webhooks = await openWebhookResources(nc, { replicas: deps.replicas ?? 1 });
  const registry = new RegistryClient(nc, { timeoutMs: 5_000 });
  const router = new ReplyRouter({ nc, requesterId: deps.requesterId ?? `wrk${randomBytes(12).toString('hex')}`, log });
  /** queryId -> the controller cancelling its run. */
  const running = new Map<string, AbortController>();
  const inFlight = new Set<Promise<void>>();
  let closing = false;
  const stop = new AbortController();
  let freed: (() => void) | undefined;
  const counts = new WorkerCounts();
  if (deps.metrics) recordWorkerMetrics(deps.metrics, { nc, counts, running: () => inFlight.size, concurrency });

  const cancelSub: Subscription = nc.subscribe(subjects.cancelAll(), {
    callback: (err, msg) => {
      if (err) return;
      const queryId = msg.subject.slice(msg.subject.lastIndexOf('.') + 1);
      const controller = running.get(queryId);
      if (controller) {
        log.info({ queryId }, 'async query cancel received');
        controller.abort(new AppError('cancelled', 'the query was cancelled'));
      }
    },
  });

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
        log.warn({ err: errName(err) }, 'pulling async work failed; retrying');
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
        // Connection gone: the job is redelivered after ack_wait, which is what a lost worker means.
      }
    }, Math.max(200, Math.floor(ackWaitMs / 3)));
    let outcome: Outcome;
    try {
      outcome = await processJob(msg);
    } catch (err) {
      // KV or registry outage: try again shortly; the record is only ever changed by compare-and-set.
      log.error({ err: errName(err), seq: msg.seq }, 'async job failed unexpectedly; retrying');
      outcome = { kind: 'retry', delayMs: retryMaxMs };
    } finally {
      clearInterval(heartbeat);
    }
    counts.settled[outcome.kind]++;
    try {
      if (outcome.kind === 'ack') msg.ack();
      else if (outcome.kind === 'term') msg.term();
      else msg.nak(outcome.delayMs);
    } catch (err) {
      log.warn({ err: errName(err), seq: msg.seq }, 'settling an async job failed; it will be redelivered');
    }
  }

  async function processJob(msg: JsMsg): Promise<Outcome> {
    let job: AsyncJob;
    try {
      job = decodeJson(AsyncJob, msg.data);
    } catch {
      log.warn({ seq: msg.seq }, 'malformed async job dropped');
      return { kind: 'term' };
    }
    const jobLog = log.child({ queryId: job.queryId, siteId: job.haloGuid });
    const current = await records.get(job.queryId);
    if (!current) {
      jobLog.warn('async job without a status record dropped');
      return { kind: 'term' };
    }
    const { record } = current;
    if (isTerminalAsyncState(record.state)) {
      jobLog.info({ state: record.state }, 'async job already finished');
      // Redelivered after it ended successful: its webhook event may not have been published (same event id).
      return record.state === 'successful' ? notify(record, jobLog) : ACK;
    }
    if (mayWrite(job) && record.writeSentAt !== undefined) {
      // The worker that sent it died (or stopped) before it finished: the write may have been applied.
      return finish(job.queryId, 'executionFailed', { code: 'write_not_retried', message: 'an earlier run of this nonQuery may have been applied; it is not run again' }, jobLog);
    }
    if (Date.now() >= expiryAt(job, record, executionTimeoutMs)) return expire(job, record, jobLog);

    let found: SiteView | null;
    try {
      found = await registry.site(job.haloGuid);
    } catch (err) {
      return retryLater(job, msg, isAppError(err) ? err.code : 'registry_unavailable', jobLog, expiryAt(job, record, executionTimeoutMs));
    }
    let site: SiteView;
    try {
      site = assertQueryable(found);
    } catch (err) {
      return finish(job.queryId, 'initialisationFailed', errorOf(err), jobLog);
    }
    if (record.state === 'initialising') await records.transition(job.queryId, (r) => (r.state === 'initialising' ? withState(r, 'queued') : r));
    return run(job, site, msg, jobLog);
  }

  async function run(job: AsyncJob, site: SiteView, msg: JsMsg, jobLog: Logger): Promise<Outcome> {
    const controller = new AbortController();
    running.set(job.queryId, controller);
    try {
      // Read again now that a cancel would reach us: one that came before is seen here.
      const fresh = await records.get(job.queryId);
      if (!fresh || isTerminalAsyncState(fresh.record.state)) return ACK;
      const now = Date.now();
      const queueLeft = Math.max(1_000, job.queueDeadline - now);
      // Every run has its own wire id: an agent remembers cancels by query id, and a re-run must not inherit one.
      const request: QueryRequest = {
        queryId: randomUUID(),
        haloGuid: job.haloGuid,
        mode: 'async',
        ...(job.catalogue !== undefined ? { catalogue: job.catalogue } : {}),
        command: job.command,
        maxTimeInQueueMs: queueLeft,
        deadline: now + queueLeft + executionTimeoutMs,
      };
      const runLog = jobLog.child({ runId: request.queryId });
      const write = mayWrite(job);
      // Marked before it is sent: should this worker die mid-run, the redelivered job must not write again.
      if (write && !(await records.transition(job.queryId, (r) => ({ ...r, writeSentAt: new Date().toISOString() })))) return ACK;
      const stream = router.start({ linkGuid: site.linkGuid }, request, { signal: controller.signal, ...streamOptions });
      let columns;
      try {
        columns = await stream.columns();
      } catch (err) {
        if (closing) return { kind: 'retry', delayMs: 0 };
        if (controller.signal.aborted) return cancelled(job.queryId, runLog);
        const code = isAppError(err) ? err.code : 'internal';
        // `internal` before meta: the request or its first chunks were lost while a connection moved between hub nodes.
        if (code === 'agent_lost' || code === 'internal') return agentLost(job, msg, code, false, runLog);
        if (code === 'site_offline' || code === 'agent_busy') {
          // Nobody took the write: it may be sent again.
          if (write) await records.transition(job.queryId, ({ writeSentAt: _sent, ...r }) => r);
          if (Date.now() >= expiryAt(job, fresh.record, executionTimeoutMs)) return expire(job, fresh.record, runLog, code);
          return retryLater(job, msg, code, runLog, expiryAt(job, fresh.record, executionTimeoutMs));
        }
        return finish(job.queryId, 'executionFailed', errorOf(err), runLog);
      }
      const executing = await records.transition(job.queryId, (r) => ({ ...withState(r, 'executing'), attempts: r.attempts + 1, columns }));
      if (!executing) {
        stream.cancel();
        return ACK;
      }
      runLog.info({ attempt: executing.attempts }, 'async query executing');
      return await collect(job, msg, stream, columns, controller, runLog);
    } finally {
      running.delete(job.queryId);
    }
  }

  async function collect(job: AsyncJob, msg: JsMsg, stream: ResultStream, columns: ColumnInfo[], controller: AbortController, runLog: Logger): Promise<Outcome> {
    const writer = new PageWriter({ store: store.results, queryId: job.queryId, pageBytes });
    let scalar: Cell | undefined;
    let summary: EndChunk;
    try {
      // The upload is awaited inside the loop: the agent gets credit for more rows only once a page is stored.
      for await (const chunk of stream) {
        if (scalar === undefined && job.command.executionMode === 'scalar') scalar = firstCell(chunk, columns);
        await writer.add(chunk);
      }
      summary = await stream.summary();
      if (!(await records.transition(job.queryId, (r) => withState(r, 'uploading')))) return discard(job.queryId, runLog);
      await writer.finish();
      await deletePagesFrom(store.results, job.queryId, writer.pageCount + 1);
    } catch (err) {
      if (closing) return { kind: 'retry', delayMs: 0 };
      if (controller.signal.aborted) return cancelled(job.queryId, runLog);
      await deletePagesFrom(store.results, job.queryId, 1).catch(() => 0);
      if (err instanceof UploadError) return finish(job.queryId, 'uploadFailed', errorOf(err.appError), runLog);
      if (isAppError(err) && err.code === 'agent_lost') return agentLost(job, msg, err.code, true, runLog);
      // A stream cut by a hub node's death or lame duck mid-rows (chunks lost while a connection moved: a protocol
      // violation; or nobody answering on the way): a read runs again, as after a lost agent (at most maxAttempts).
      if (isAppError(err) && (err.code === 'internal' || err.code === 'site_offline')) {
        runLog.warn({ code: err.code }, 'async query stream broke');
        return agentLost(job, msg, err.code, true, runLog);
      }
      return finish(job.queryId, 'executionFailed', errorOf(err), runLog);
    }
    const finishedAt = Date.now();
    const done = await records.transition(job.queryId, (r) => ({
      ...withState(r, 'successful', finishedAt),
      pageCount: writer.pageCount,
      pages: writer.pages,
      rowCount: summary.rowCount,
      size: summary.bytes,
      ...(summary.affected !== undefined ? { affected: summary.affected } : {}),
      ...(summary.parameters?.length ? { parameters: summary.parameters } : {}),
      ...(r.executionMode === 'scalar' ? { scalar: scalar ?? null } : {}),
      metrics: { queuedDuration: summary.timings.queuedMs, sqlExecutionDuration: summary.timings.executionMs },
      expiresAt: (writer.firstWriteAt ?? finishedAt) + resultTtlMs,
    }));
    if (!done) return discard(job.queryId, runLog);
    counts.end('successful');
    counts.resultBytes += summary.bytes;
    runLog.info({ rowCount: summary.rowCount, bytes: summary.bytes, pages: writer.pageCount, executionMs: summary.timings.executionMs }, 'async query finished');
    return notify(done, runLog);
  }

  /** Publishes the webhook event of a successful query; if the hub refuses it, the job comes back and tries again. */
  async function notify(record: AsyncQueryRecord, jobLog: Logger): Promise<Outcome> {
    try {
      await asyncSuccessEvent(webhooks, record);
      return ACK;
    } catch (err) {
      jobLog.warn({ err: errName(err) }, 'publishing the webhook event failed; retrying');
      return { kind: 'retry', delayMs: retryMaxMs };
    }
  }

  /** Backs off (doubling per delivery from 500 ms, at most retryMaxMs, never past the queue deadline) and stays queued. */
  async function retryLater(job: AsyncJob, msg: JsMsg, code: ErrorCode, jobLog: Logger, expiresAt: number): Promise<Outcome> {
    await records.transition(job.queryId, (r) => {
      if (r.state === 'executing' || r.state === 'uploading') return { ...withState(r, 'queued'), queueReason: code };
      return r.queueReason === code ? null : { ...r, queueReason: code };
    });
    const delayMs = backoff(msg, expiresAt);
    jobLog.info({ code, delayMs, delivery: msg.info.deliveryCount }, 'async query waiting for its site');
    return { kind: 'retry', delayMs };
  }

  function backoff(msg: JsMsg, expiresAt: number): number {
    const delay = Math.min(retryMaxMs, 500 * 2 ** Math.min(msg.info.deliveryCount - 1, 10));
    return Math.max(0, Math.min(delay, expiresAt - Date.now() + 50));
  }

  /**
   * The run lost its agent (killed, frozen, cut off: no chunk and no keep-alive within the stall timeout), so
   * its outcome is unknown. A read runs again from scratch, as a new attempt, once the site is back: at most
   * maxAttempts runs, and only while its maxTimeInQueue lasts. A nonQuery may already have been applied: it
   * is never run again (`write_not_retried`). Every lost run is recorded in `failedAttempts`.
   */
  async function agentLost(job: AsyncJob, msg: JsMsg, code: ErrorCode, counted: boolean, runLog: Logger): Promise<Outcome> {
    const at = Date.now();
    const ended = (r: AsyncQueryRecord, error: { code: ErrorCode; message: string }): AsyncQueryRecord =>
      ({ ...withState(r, 'executionFailed', at), error, expiresAt: at + resultTtlMs });
    const next = await records.transition(job.queryId, (r) => {
      // A run lost before `meta` was not counted as started yet.
      const attempt = counted ? r.attempts : r.attempts + 1;
      const lost = { ...r, attempts: attempt, failedAttempts: [...(r.failedAttempts ?? []), { attempt, code, at: new Date(at).toISOString() }] };
      if (mayWrite(job)) {
        return ended(lost, { code: 'write_not_retried', message: 'the agent was lost while running this nonQuery; it may have been applied, so it is not run again' });
      }
      if (attempt >= maxAttempts) return ended(lost, { code, message: `the agent was lost on each of ${attempt} attempts` });
      if (at >= job.queueDeadline) return ended(lost, { code, message: 'the agent was lost, and maxTimeInQueue has passed: not run again' });
      return { ...withState(lost, 'queued', at), queueReason: code };
    });
    if (!next) return ACK;
    const attempt = next.attempts;
    if (next.state !== 'queued') {
      runLog.warn({ code: next.error?.code, attempt }, 'async query lost its agent; not run again');
      return ACK;
    }
    const delayMs = backoff(msg, job.queueDeadline);
    runLog.warn({ code, attempt, delayMs }, 'async query lost its agent; it runs again when the site is back');
    return { kind: 'retry', delayMs };
  }

  async function expire(job: AsyncJob, record: AsyncQueryRecord, jobLog: Logger, code?: ErrorCode): Promise<Outcome> {
    const reason = code ?? record.queueReason ?? 'deadline_exceeded';
    return finish(job.queryId, 'expiredInQueue', { code: reason, message: 'the query did not start within maxTimeInQueue' }, jobLog);
  }

  async function finish(queryId: string, state: AsyncQueryRecord['state'], error: AsyncQueryRecord['error'] & object, jobLog: Logger): Promise<Outcome> {
    const at = Date.now();
    const done = await records.transition(queryId, (r) => ({ ...withState(r, state, at), error, expiresAt: at + resultTtlMs }));
    if (done) {
      counts.end(state);
      jobLog.info({ state, code: error.code }, 'async query ended');
    }
    return ACK;
  }

  /** A cancel arrived (the facade marked the record cancelled): drop whatever pages this run wrote. */
  async function cancelled(queryId: string, jobLog: Logger): Promise<Outcome> {
    await deletePagesFrom(store.results, queryId, 1).catch(() => 0);
    // The facade writes `cancelled` before publishing the cancel; this only covers a record it could not update.
    await finish(queryId, 'cancelled', { code: 'cancelled', message: 'the query was cancelled' }, jobLog);
    jobLog.info('async query cancelled while running');
    return ACK;
  }

  /** The record became terminal (cancelled) while this run was finishing: its pages must not linger. */
  async function discard(queryId: string, jobLog: Logger): Promise<Outcome> {
    await deletePagesFrom(store.results, queryId, 1).catch(() => 0);
    jobLog.info('async query result discarded: cancelled while finishing');
    return ACK;
  }

  return {
    async close() {
      if (closing) return;
      closing = true;
      stop.abort();
      freed?.();
      // Running queries go back to the queue: their streams are cancelled (the agents stop their statements).
      for (const controller of running.values()) controller.abort(new AppError('internal', 'worker stopping'));
      await loop;
      await Promise.allSettled([...inFlight]);
      await router.close();
      cancelSub.unsubscribe();
      log.info('worker stopped');
    },
  };
}

/**
 * When a waiting query expires: its queue deadline; for one that already started on a worker that died, also
 * the execution budget (it is re-run, not expired, while that lasts), unless it is waiting after losing its agent.
 */
function expiryAt(job: AsyncJob, record: AsyncQueryRecord, executionTimeoutMs: number): number {
  // A read waiting to run again after it lost its agent waits no longer than its maxTimeInQueue.
  if (record.state === 'queued' && record.failedAttempts?.length) return job.queueDeadline;
  return record.statusTiming.executing !== undefined ? job.queueDeadline + executionTimeoutMs : job.queueDeadline;
}

/** A nonQuery, or a stored procedure call (which may write whatever its mode): run at most once. */
function mayWrite(job: AsyncJob): boolean {
  return job.command.executionMode === 'nonQuery' || job.command.type === 'storedProcedure';
}

function errorOf(err: unknown): { code: ErrorCode; message: string; sqlServerError?: number } {
  if (isAppError(err)) return { code: err.code, message: err.message.slice(0, 1000), ...(err.sqlServerError === undefined ? {} : { sqlServerError: err.sqlServerError }) };
  return { code: 'internal', message: 'internal error' };
}

/** A scalar's value: the first column of the first row (parsed from the first chunk, which a scalar's one row fills). */
function firstCell(chunk: RowBytes, columns: readonly ColumnInfo[]): Cell {
  const name = columns[0]?.name;
  if (name === undefined) return null;
  const records = JSON.parse(`[${Buffer.from(chunk.bytes).toString('utf8')}]`) as Record<string, Cell>[];
  return records[0]?.[name] ?? null;
}
