import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { Environment } from '@halo/contracts';
import { List, LogLevel, loadConfig, Port, runService } from '@halo/config';
import { natsReadiness, registerHubMonitor, startServiceMetrics } from '@halo/metrics';
import { createLogger } from '@halo/log';
import { readFileSync } from 'node:fs';
import { connectNats, type NatsConnection } from '@halo/messaging';
import { keyFromSeed } from '@halo/nats-auth';
import { startRegistry } from './registry.ts';
import type { EnrolmentConfig } from './enrolment.ts';

const config = loadConfig(z.object({
  HALO_NATS_URL: List,
  HALO_ENV: Environment.default('production'),
  /** Replicas of every KV bucket and stream this service creates: 1 (one hub node), 3 on a cluster. */
  HALO_JS_REPLICAS: z.coerce.number().int().min(1).max(5).default(1),
  /** Availability thresholds (ARCHITECTURE §5): online within 30 s, unreachable after 2 min; drift flag over 60 s. */
  HALO_ONLINE_WITHIN_MS: z.coerce.number().int().positive().default(30_000),
  HALO_UNREACHABLE_AFTER_MS: z.coerce.number().int().positive().default(120_000),
  HALO_MAX_CLOCK_DRIFT_MS: z.coerce.number().int().positive().default(60_000),
  HALO_LOG_LEVEL: LogLevel.default('info'),
  /** Operator/JWT mode: this registry's user creds in the environment's account. */
  HALO_NATS_CREDS: z.string().min(1).optional(),
  /** The CA of the hub's client TLS certificate (a cluster rendered by `halo-admin init --nodes`). */
  HALO_NATS_CA_FILE: z.string().min(1).optional(),
  /** Enrolment: the environment account's public key and the seed file of its scoped link signing key. */
  HALO_ACCOUNT_PUBLIC_KEY: z.string().min(1).optional(),
  HALO_LINK_SIGNING_KEY_FILE: z.string().min(1).optional(),
  /** Revocation: a SYS user's creds (claims pusher) and the operator signing key's seed file. */
  HALO_SYS_CREDS: z.string().min(1).optional(),
  HALO_OPERATOR_SIGNING_KEY_FILE: z.string().min(1).optional(),
  HALO_REVOCATION_SKEW_SECONDS: z.coerce.number().int().min(0).max(86_400).default(300),
  /** Internal `/metrics`, `/health/live`, `/health/ready` listener (unset: none; 0: a free port, logged as `{ port }`). */
  HALO_METRICS_PORT: Port.optional(),
  HALO_METRICS_HOST: z.string().min(1).default('127.0.0.1'),
  /** At SIGTERM, how long /health/ready answers 503 before the service stops taking work. */
  HALO_DRAIN_DELAY_MS: z.coerce.number().int().min(0).default(0),
  /** Monitoring base URLs of the hub nodes (nats-server `http:`), read at each scrape for leaf connections per node. */
  HALO_HUB_MONITOR_URLS: List.default([]),
  /** Given to every enrolling link: the hub's leafnode URLs (comma-separated) and the CA file of their certificate. */
  HALO_HUB_LEAF_URLS: List.optional(),
  HALO_HUB_CA_FILE: z.string().min(1).optional(),
}));
const log = createLogger({ name: 'registry', level: config.HALO_LOG_LEVEL });
const tls = config.HALO_NATS_CA_FILE ? { caFile: config.HALO_NATS_CA_FILE } : {};
const seed = (file: string) => keyFromSeed(readFileSync(file, 'utf8'));

// Reverse order of start at shutdown: not ready, stop serving, drain the claims connection and the main one, then
// close the internal listener.
await runService({
  log,
  async start(scope) {
    const metrics = await startServiceMetrics({ service: 'registry', log, port: config.HALO_METRICS_PORT, host: config.HALO_METRICS_HOST, probes: true });
    scope.defer('metrics', () => metrics.close());
    if (config.HALO_HUB_MONITOR_URLS.length > 0) registerHubMonitor(metrics.registry, { urls: config.HALO_HUB_MONITOR_URLS });
    const nc = await connectNats({ servers: config.HALO_NATS_URL, name: 'halo-registry', log, ...(config.HALO_NATS_CREDS ? { credsFile: config.HALO_NATS_CREDS } : {}), ...tls });
    scope.defer('nats', () => nc.drain());
    let enrolment: EnrolmentConfig | undefined;
    if (config.HALO_ACCOUNT_PUBLIC_KEY && config.HALO_LINK_SIGNING_KEY_FILE) {
      let sysNc: NatsConnection | undefined;
      if (config.HALO_SYS_CREDS && config.HALO_OPERATOR_SIGNING_KEY_FILE) {
        const claims = await connectNats({ servers: config.HALO_NATS_URL, name: 'halo-registry-claims', log, credsFile: config.HALO_SYS_CREDS, ...tls });
        scope.defer('claims nats', () => claims.drain());
        sysNc = claims;
      } else {
        log.warn('HALO_SYS_CREDS or HALO_OPERATOR_SIGNING_KEY_FILE missing: links can enrol but support cannot revoke them');
      }
      enrolment = {
        accountPublicKey: config.HALO_ACCOUNT_PUBLIC_KEY,
        linkSigningKey: seed(config.HALO_LINK_SIGNING_KEY_FILE),
        clockSkewSeconds: config.HALO_REVOCATION_SKEW_SECONDS,
        ...(config.HALO_HUB_LEAF_URLS ? {
          hub: { leafUrls: config.HALO_HUB_LEAF_URLS, ...(config.HALO_HUB_CA_FILE ? { caPem: readFileSync(config.HALO_HUB_CA_FILE, 'utf8') } : {}) },
        } : {}),
        ...(sysNc && config.HALO_OPERATOR_SIGNING_KEY_FILE ? { revocation: { sysNc, operatorSigningKey: seed(config.HALO_OPERATOR_SIGNING_KEY_FILE) } } : {}),
      };
    }
    const registry = await startRegistry({
      nc, log, env: config.HALO_ENV, replicas: config.HALO_JS_REPLICAS, metrics: metrics.registry,
      ...(enrolment ? { enrolment } : {}),
      thresholds: { onlineWithinMs: config.HALO_ONLINE_WITHIN_MS, unreachableAfterMs: config.HALO_UNREACHABLE_AFTER_MS, maxClockDriftMs: config.HALO_MAX_CLOCK_DRIFT_MS },
    });
    scope.defer('registry', () => registry.close());
    // Its buckets are open: ready while NATS is connected. At shutdown this is the first step.
    const nats = natsReadiness(nc);
    metrics.setReadiness(nats.reason);
    scope.defer('readiness', async () => {
      metrics.drain();
      nats.stop();
      log.info({ drainDelayMs: config.HALO_DRAIN_DELAY_MS }, 'draining');
      if (config.HALO_DRAIN_DELAY_MS > 0) await sleep(config.HALO_DRAIN_DELAY_MS);
    });
  },
});
