import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { ASYNC_LIMITS, WEBHOOK_LIMITS } from '@halo/contracts';
import { List, LogLevel, loadConfig, Port, runService } from '@halo/config';
import { natsReadiness, startServiceMetrics } from '@halo/metrics';
import { createLogger } from '@halo/log';
import { connectNats } from '@halo/messaging';
import { startWorker } from './worker.ts';
import { registeredCounters, startRegisteredScheduler } from './registered-scheduler.ts';
import { startWebhookDelivery, webhookCounters } from './webhook-delivery.ts';
import { recordDeliveryMetrics } from './worker-metrics.ts';

/** The worker's environment; this file is the only reader of it. */
const Config = z.object({
  HALO_NATS_URL: List,
  /** Operator/JWT mode: this worker's user creds in the environment's account. */
  HALO_NATS_CREDS: z.string().min(1).optional(),
  /** The CA of the hub's client TLS certificate (a cluster rendered by `halo-admin init --nodes`). */
  HALO_NATS_CA_FILE: z.string().min(1).optional(),
  HALO_LOG_LEVEL: LogLevel.default('info'),
  HALO_RESULT_TTL_MS: z.coerce.number().int().positive().default(ASYNC_LIMITS.defaultResultTtlMs),
  HALO_JS_REPLICAS: z.coerce.number().int().min(1).max(5).default(1),
  HALO_WORKER_CONCURRENCY: z.coerce.number().int().min(1).max(256).default(4),
  HALO_ACK_WAIT_MS: z.coerce.number().int().min(1_000).default(30_000),
  HALO_EXECUTION_TIMEOUT_MS: z.coerce.number().int().positive().default(30 * 60_000),
  HALO_RETRY_MAX_MS: z.coerce.number().int().positive().default(15_000),
  HALO_STALL_MS: z.coerce.number().int().min(1_000).optional(),
  HALO_KEEPALIVE_MS: z.coerce.number().int().min(100).optional(),
  HALO_MAX_ATTEMPTS: z.coerce.number().int().min(1).max(20).default(3),
  /** Internal `/metrics`, `/health/live`, `/health/ready` listener (unset: none; 0: a free port, logged as `{ port }`). */
  HALO_METRICS_PORT: Port.optional(),
  HALO_METRICS_HOST: z.string().min(1).default('127.0.0.1'),
  /** At SIGTERM, how long /health/ready answers 503 before the service stops taking work. */
  HALO_DRAIN_DELAY_MS: z.coerce.number().int().min(0).default(0),
  /** Webhook URLs may reach loopback, link-local and private addresses, and use plain http: dev and tests only. */
  HALO_WEBHOOK_ALLOW_PRIVATE: z.enum(['true', 'false']).default('false'),
  /** First webhook retry delay (doubling per attempt), attempts before an event is dropped, and each attempt's timeout. */
  HALO_WEBHOOK_BACKOFF_MS: z.coerce.number().int().min(1).default(WEBHOOK_LIMITS.backoffMs),
  HALO_WEBHOOK_MAX_ATTEMPTS: z.coerce.number().int().min(1).max(50).default(WEBHOOK_LIMITS.maxAttempts),
  HALO_WEBHOOK_TIMEOUT_MS: z.coerce.number().int().min(100).default(WEBHOOK_LIMITS.attemptTimeoutMs),
});

const config = loadConfig(Config);
const log = createLogger({ name: 'worker', level: config.HALO_LOG_LEVEL });
// Reverse order of start at shutdown: not ready, hand running queries back to the queue, drain NATS, then close the
// internal listener.
await runService({
  log,
  async start(scope) {
    const metrics = await startServiceMetrics({ service: 'worker', log, port: config.HALO_METRICS_PORT, host: config.HALO_METRICS_HOST, probes: true });
    recordDeliveryMetrics(metrics.registry, { webhooks: webhookCounters, registered: registeredCounters });
    scope.defer('metrics', () => metrics.close());
    const nc = await connectNats({ servers: config.HALO_NATS_URL, name: 'halo-worker', log, ...(config.HALO_NATS_CREDS ? { credsFile: config.HALO_NATS_CREDS } : {}), ...(config.HALO_NATS_CA_FILE ? { caFile: config.HALO_NATS_CA_FILE } : {}) });
    scope.defer('nats', () => nc.drain());
    const worker = await startWorker({
      nc,
      log,
      replicas: config.HALO_JS_REPLICAS,
      resultTtlMs: config.HALO_RESULT_TTL_MS,
      concurrency: config.HALO_WORKER_CONCURRENCY,
      ackWaitMs: config.HALO_ACK_WAIT_MS,
      executionTimeoutMs: config.HALO_EXECUTION_TIMEOUT_MS,
      retryMaxMs: config.HALO_RETRY_MAX_MS,
      maxAttempts: config.HALO_MAX_ATTEMPTS,
      metrics: metrics.registry,
      ...(config.HALO_STALL_MS !== undefined ? { stallMs: config.HALO_STALL_MS } : {}),
      ...(config.HALO_KEEPALIVE_MS !== undefined ? { keepAliveMs: config.HALO_KEEPALIVE_MS } : {}),
    });
    log.info({ concurrency: config.HALO_WORKER_CONCURRENCY, resultTtlMs: config.HALO_RESULT_TTL_MS }, 'worker ready');
    scope.defer('worker', () => worker.close());
    // Its stream, consumer and buckets are open: ready while NATS is connected. At shutdown this is the first step.
    const nats = natsReadiness(nc);
    metrics.setReadiness(nats.reason);
    scope.defer('readiness', async () => {
      metrics.drain();
      nats.stop();
      log.info({ drainDelayMs: config.HALO_DRAIN_DELAY_MS }, 'draining');
      if (config.HALO_DRAIN_DELAY_MS > 0) await sleep(config.HALO_DRAIN_DELAY_MS);
    });
    const scheduler = await startRegisteredScheduler({
      nc,
      log: log.child({ part: 'registered' }),
      replicas: config.HALO_JS_REPLICAS,
      ackWaitMs: config.HALO_ACK_WAIT_MS,
      ...(config.HALO_STALL_MS !== undefined ? { stallMs: config.HALO_STALL_MS } : {}),
    });
    scope.defer('registered queries', () => scheduler.close());
    const webhooks = await startWebhookDelivery({
      nc,
      log: log.child({ part: 'webhooks' }),
      replicas: config.HALO_JS_REPLICAS,
      urlPolicy: { allowPrivate: config.HALO_WEBHOOK_ALLOW_PRIVATE === 'true' },
      backoffMs: config.HALO_WEBHOOK_BACKOFF_MS,
      maxAttempts: config.HALO_WEBHOOK_MAX_ATTEMPTS,
      attemptTimeoutMs: config.HALO_WEBHOOK_TIMEOUT_MS,
    });
    scope.defer('webhooks', () => webhooks.close());
  },
});
