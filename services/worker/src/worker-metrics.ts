import { ASYNC_NAMES, type AsyncQueryRecord } from '@halo/contracts';
import { observedCounter, observedGauge, registerJetStreamMetrics, type Registry, type Sample } from '@halo/metrics';
import type { NatsConnection } from '@nats-io/transport-node';

/** What a worker counts since start: async queries ended by final state, result bytes written, jobs settled. */
export class WorkerCounts {
  readonly ended = new Map<AsyncQueryRecord['state'], number>();
  readonly settled = { ack: 0, retry: 0, term: 0 };
  resultBytes = 0;

  end(state: AsyncQueryRecord['state']): void {
    this.ended.set(state, (this.ended.get(state) ?? 0) + 1);
  }
}

/**
 * The worker's series: async queries ended (by final state), result bytes, jobs settled (ack, retry = nak with
 * delay, term), queries running here, and the async queue depth from the work stream's consumer info (shared by
 * every worker: `halo_jetstream_consumer_pending{consumer="async-worker"}` is the backlog, `_ack_pending` what runs).
 */
export function recordWorkerMetrics(registry: Registry, from: { nc: NatsConnection; counts: WorkerCounts; running: () => number; concurrency: number }): void {
  const { counts } = from;
  observedCounter(registry, {
    name: 'halo_async_queries_ended_total', help: 'Async queries this worker ended, by final state', labelNames: ['state'],
    read: () => [...counts.ended].map(([state, n]): Sample => [{ state }, n]),
  });
  observedCounter(registry, {
    name: 'halo_async_result_bytes_total', help: 'Result bytes (as the agent sent them) of async queries this worker stored',
    read: () => [[{}, counts.resultBytes]],
  });
  observedCounter(registry, {
    name: 'halo_async_jobs_settled_total', help: 'Work-queue messages this worker settled: ack (done), retry (back to the queue with a delay), term (dropped)', labelNames: ['outcome'],
    read: () => Object.entries(counts.settled).map(([outcome, n]): Sample => [{ outcome }, n]),
  });
  observedGauge(registry, { name: 'halo_async_running', help: 'Async queries running on this worker', read: () => [[{}, from.running()]] });
  observedGauge(registry, { name: 'halo_async_concurrency', help: 'Async queries this worker runs at most at once', read: () => [[{}, from.concurrency]] });
  registerJetStreamMetrics(registry, from.nc, {
    streams: [ASYNC_NAMES.workStream, `KV_${ASYNC_NAMES.queries}`],
    consumers: [[ASYNC_NAMES.workStream, ASYNC_NAMES.workConsumer]],
  });
}

/**
 * Webhook deliveries (delivered, retried = an attempt failed and another follows, dropped) and registered query
 * ticks (run, failed, skipped = missed while late, retried) of this process, from the plain counters the delivery
 * and the scheduler keep.
 */
export function recordDeliveryMetrics(registry: Registry, from: { webhooks: Record<'delivered' | 'retried' | 'dropped', number>; registered: Record<'ticksRun' | 'ticksFailed' | 'ticksSkipped' | 'ticksRetried', number> }): void {
  const { webhooks, registered } = from;
  observedCounter(registry, {
    name: 'halo_webhook_deliveries_total', help: 'Webhook attempts of this worker by outcome: delivered, retried (failed, another attempt follows), dropped', labelNames: ['outcome'],
    read: () => Object.entries(webhooks).map(([outcome, n]): Sample => [{ outcome }, n]),
  });
  observedCounter(registry, {
    name: 'halo_registered_ticks_total', help: 'Registered query ticks of this worker by outcome: run, failed, skipped (missed while late), retried', labelNames: ['outcome'],
    read: () => [
      [{ outcome: 'run' }, registered.ticksRun], [{ outcome: 'failed' }, registered.ticksFailed],
      [{ outcome: 'skipped' }, registered.ticksSkipped], [{ outcome: 'retried' }, registered.ticksRetried],
    ],
  });
}
