import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { ASYNC_LIMITS, Environment, LIMITS, REGISTERED_LIMITS } from '@halo/contracts';
import { List, loadConfig, LogLevel, Port, runService } from '@halo/config';
import { createLogger } from '@halo/log';
import { connectNats } from '@halo/messaging';
import { startServiceMetrics } from '@halo/metrics';
import { parseSubscriptionKeys } from './auth/subscription-keys.ts';
import { parseIntegrators } from './auth/integrators-file.ts';
import { parseSupportKeys } from './auth/support-auth.ts';
import { DEFAULT_HTTP_LIMITS } from './http/http-limits.ts';
import { DEFAULT_LOAD_SHEDDING } from './http/load-shedding.ts';
import { startFacade } from './start.ts';

/** The facade's environment; this file is the only reader of it. */
const Config = z.object({
  HALO_NATS_URL: z.string().min(1),
  HALO_HTTP_PORT: Port.default(8080),
  HALO_HTTP_HOST: z.string().min(1).default('127.0.0.1'),
  HALO_SUBSCRIPTION_KEYS: List.default([]),
  /** PMS types the integrators of HALO_SUBSCRIPTION_KEYS are onboarded for. */
  HALO_SUBSCRIPTION_PMS_TYPES: List.default(['sample']),
  /** JSON: [{id, env, keyHashes: [sha256 hex, at most 2], pmsTypes: [...], rateLimit?: {perSecond, burst}}]. */
  HALO_INTEGRATORS_FILE: z.string().min(1).optional(),
  /** The environment this facade serves; integrators of the file bound to another are not loaded. */
  HALO_ENV: Environment.default('production'),
  /** Request rate per integrator (across all replicas) for integrators without their own. */
  HALO_RATE_LIMIT_PER_SECOND: z.coerce.number().positive().default(1000),
  HALO_RATE_LIMIT_BURST: z.coerce.number().int().positive().default(2000),
  /** A facade replica not heard from for this long no longer takes a share of the rate limits. */
  HALO_REPLICA_TTL_MS: z.coerce.number().int().positive().default(10_000),
  /** `supportUserId:key,...` for `/support/*`; separate from integrator keys. */
  HALO_SUPPORT_KEYS: List.default([]),
  HALO_LOG_LEVEL: LogLevel.default('info'),
  HALO_QUERY_TIMEOUT_MS: z.coerce.number().int().positive().default(30_000),
  HALO_RESULT_TTL_MS: z.coerce.number().int().positive().default(ASYNC_LIMITS.defaultResultTtlMs),
  HALO_JS_REPLICAS: z.coerce.number().int().min(1).max(5).default(1),
  /** Operator/JWT mode: this facade's user creds in the environment's account. */
  HALO_NATS_CREDS: z.string().min(1).optional(),
  /** The CA of the hub's client TLS certificate (a cluster rendered by `halo-admin init --nodes`). */
  HALO_NATS_CA_FILE: z.string().min(1).optional(),
  /** Serve `POST /enrol` (Halo Link enrolment, relayed to the registry). */
  HALO_ENROLMENT: z.enum(['true', 'false']).default('false'),
  /** Queries and result reads need an active pairing (POST /integrator/pair-site), as on Halo; `false` only for trials. */
  HALO_REQUIRE_PAIRING: z.enum(['true', 'false']).default('true'),
  /** HTTPS: PEM certificate and key files (both, or neither for plain HTTP). */
  HALO_HTTPS_CERT_FILE: z.string().min(1).optional(),
  HALO_HTTPS_KEY_FILE: z.string().min(1).optional(),
  /** Connection bounds in seconds (DEFAULT_HTTP_LIMITS) and the connection cap. */
  HALO_HTTP_HEADERS_TIMEOUT_SECONDS: z.coerce.number().positive().default(DEFAULT_HTTP_LIMITS.headersTimeoutSeconds),
  HALO_HTTP_REQUEST_TIMEOUT_SECONDS: z.coerce.number().positive().default(DEFAULT_HTTP_LIMITS.requestTimeoutSeconds),
  HALO_HTTP_IDLE_TIMEOUT_SECONDS: z.coerce.number().positive().default(DEFAULT_HTTP_LIMITS.idleTimeoutSeconds),
  HALO_HTTP_KEEP_ALIVE_TIMEOUT_SECONDS: z.coerce.number().positive().default(DEFAULT_HTTP_LIMITS.keepAliveTimeoutSeconds),
  HALO_HTTP_MAX_CONNECTIONS: z.coerce.number().int().positive().default(DEFAULT_HTTP_LIMITS.maxConnections),
  HALO_HTTP_CLOSE_TIMEOUT_SECONDS: z.coerce.number().positive().default(DEFAULT_HTTP_LIMITS.closeTimeoutSeconds),
  /** At SIGTERM, how long /health/ready answers 503 before the facade stops accepting. */
  HALO_HTTP_DRAIN_DELAY_MS: z.coerce.number().int().min(0).default(2000),
  /** Load shedding (503 `overloaded`): mean event-loop delay and heap bounds (0: not checked). */
  HALO_HTTP_SHED_EVENT_LOOP_DELAY_MS: z.coerce.number().int().min(0).default(DEFAULT_LOAD_SHEDDING.maxEventLoopDelayMs),
  HALO_HTTP_SHED_HEAP_USED_BYTES: z.coerce.number().int().min(0).default(DEFAULT_LOAD_SHEDDING.maxHeapUsedBytes),
  /** Internal `/metrics` listener (unset: none; 0: a free port, logged as `{ port }`). */
  HALO_METRICS_PORT: Port.optional(),
  HALO_METRICS_HOST: z.string().min(1).default('127.0.0.1'),
  /** Shortest frequency a registered query may have (Halo: 60 s); lower only for tests and demos. */
  HALO_REGISTERED_MIN_FREQUENCY_SECONDS: z.coerce.number().int().min(1).default(REGISTERED_LIMITS.defaultMinFrequencySeconds),
  /** Webhook URLs may reach loopback, link-local and private addresses, and use plain http: dev and tests only. */
  HALO_WEBHOOK_ALLOW_PRIVATE: z.enum(['true', 'false']).default('false'),
});

const config = loadConfig(Config);
const log = createLogger({ name: 'facade', level: config.HALO_LOG_LEVEL });
const keys = parseSubscriptionKeys(config.HALO_SUBSCRIPTION_KEYS, config.HALO_SUBSCRIPTION_PMS_TYPES);
const allIntegrators = config.HALO_INTEGRATORS_FILE === undefined ? [] : parseIntegrators(readFileSync(config.HALO_INTEGRATORS_FILE, 'utf8'));
const integrators = allIntegrators.filter((i) => i.env === config.HALO_ENV);
if (integrators.length < allIntegrators.length) log.info({ env: config.HALO_ENV, skipped: allIntegrators.length - integrators.length }, 'integrators of other environments not loaded');
if (keys.length === 0 && integrators.length === 0) log.warn('no subscription keys (HALO_SUBSCRIPTION_KEYS, HALO_INTEGRATORS_FILE): every /integrator request will answer 401');
const supportKeys = parseSupportKeys(config.HALO_SUPPORT_KEYS);
// An immediate query's socket is silent until the answer; a shorter idle bound would cut queries it serves.
const longestImmediateSeconds = (LIMITS.maxImmediateTimeInQueueMs + config.HALO_QUERY_TIMEOUT_MS) / 1000;
if (config.HALO_HTTP_IDLE_TIMEOUT_SECONDS <= longestImmediateSeconds) throw new Error(`HALO_HTTP_IDLE_TIMEOUT_SECONDS must exceed ${longestImmediateSeconds} (the longest maxTimeInQueue plus HALO_QUERY_TIMEOUT_MS)`);

if ((config.HALO_HTTPS_CERT_FILE === undefined) !== (config.HALO_HTTPS_KEY_FILE === undefined)) throw new Error('give both HALO_HTTPS_CERT_FILE and HALO_HTTPS_KEY_FILE, or neither');

// Reverse order of start at shutdown: stop taking HTTP requests, let in-flight ones finish, then drain NATS.
await runService({
  log,
  async start(scope) {
    const metrics = await startServiceMetrics({ service: 'facade', log, port: config.HALO_METRICS_PORT, host: config.HALO_METRICS_HOST });
    scope.defer('metrics', () => metrics.close());
    const nc = await connectNats({ servers: config.HALO_NATS_URL.split(','), name: 'halo-facade', log, ...(config.HALO_NATS_CREDS ? { credsFile: config.HALO_NATS_CREDS } : {}), ...(config.HALO_NATS_CA_FILE ? { caFile: config.HALO_NATS_CA_FILE } : {}) });
    scope.defer('nats', () => nc.drain());
    const facade = await startFacade({
      nc,
      port: config.HALO_HTTP_PORT,
      host: config.HALO_HTTP_HOST,
      keys,
      integrators,
      rateLimit: { perSecond: config.HALO_RATE_LIMIT_PER_SECOND, burst: config.HALO_RATE_LIMIT_BURST },
      replicaTtlMs: config.HALO_REPLICA_TTL_MS,
      supportKeys,
      log,
      queryTimeoutMs: config.HALO_QUERY_TIMEOUT_MS,
      async: { replicas: config.HALO_JS_REPLICAS, resultTtlMs: config.HALO_RESULT_TTL_MS },
      registered: { minFrequencySeconds: config.HALO_REGISTERED_MIN_FREQUENCY_SECONDS },
      webhooks: { allowPrivate: config.HALO_WEBHOOK_ALLOW_PRIVATE === 'true' },
      enrolment: config.HALO_ENROLMENT === 'true',
      requirePairing: config.HALO_REQUIRE_PAIRING === 'true',
      ...(config.HALO_HTTPS_CERT_FILE && config.HALO_HTTPS_KEY_FILE ? { https: { certFile: config.HALO_HTTPS_CERT_FILE, keyFile: config.HALO_HTTPS_KEY_FILE } } : {}),
      http: {
        headersTimeoutSeconds: config.HALO_HTTP_HEADERS_TIMEOUT_SECONDS,
        requestTimeoutSeconds: config.HALO_HTTP_REQUEST_TIMEOUT_SECONDS,
        idleTimeoutSeconds: config.HALO_HTTP_IDLE_TIMEOUT_SECONDS,
        keepAliveTimeoutSeconds: config.HALO_HTTP_KEEP_ALIVE_TIMEOUT_SECONDS,
        maxConnections: config.HALO_HTTP_MAX_CONNECTIONS,
        closeTimeoutSeconds: config.HALO_HTTP_CLOSE_TIMEOUT_SECONDS,
      },
      loadShedding: { maxEventLoopDelayMs: config.HALO_HTTP_SHED_EVENT_LOOP_DELAY_MS, maxHeapUsedBytes: config.HALO_HTTP_SHED_HEAP_USED_BYTES },
      drainDelayMs: config.HALO_HTTP_DRAIN_DELAY_MS,
      metrics: metrics.registry,
    });
    scope.defer('http', () => facade.close());
  },
});
