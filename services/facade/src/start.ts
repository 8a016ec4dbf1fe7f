import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Logger } from '@halo/log';
import type { NatsConnection } from '@halo/messaging';
import { setTimeout as sleep } from 'node:timers/promises';
import { buildApp } from './http/app.ts';
import type { HttpLimits } from './http/http-limits.ts';
import type { LoadShedding } from './http/load-shedding.ts';
import { assertUsableKeys, groupKeys, type SubscriptionKey } from './auth/subscription-keys.ts';
import { integratorAuthenticator, type IntegratorKeys } from './auth/integrators-file.ts';
import { TokenBucketLimiter, type RateLimit } from './auth/rate-limit.ts';
import type { Authenticator } from './deps.ts';
import { NatsQueryClient } from './nats/query-client.ts';
import { FacadeReplicas } from './nats/facade-replicas.ts';
import { ImmediateQueries } from './nats/immediate-queries.ts';
import { NatsSiteDirectory } from './nats/site-directory.ts';
import { NatsAsyncQueryStore } from './nats/async-store.ts';
import { NatsRegisteredStore } from './nats/registered-store.ts';
import { NatsWebhookAdmin } from './nats/webhook-admin.ts';
import { supportKeyAuthenticator, type SupportKey } from './auth/support-auth.ts';
import { NatsSupportRegistry } from './nats/support-client.ts';
import { connectionState } from './nats/connection-state.ts';
import { dependencyHealth } from './nats/dependency-health.ts';
import { recordFacadeMetrics } from './nats/facade-metrics.ts';
import type { Registry } from '@halo/metrics';
import { NatsPairings } from './nats/pairings.ts';
import { openBrowserUis } from './console/open-browser-uis.ts';

export interface StartFacadeOptions {
  /** An open connection; the caller owns it (startFacade never drains or closes it). */
  nc: NatsConnection;
  port: number;
  host: string;
  /** Keys in clear (HALO_SUBSCRIPTION_KEYS, tests); each must be >= 32 random bytes (base64url), at most two per integrator. */
  keys: readonly SubscriptionKey[];
  /** Integrators known by key hashes only (HALO_INTEGRATORS_FILE), already filtered to this environment. */
  integrators?: readonly IntegratorKeys[];
  /** Request rate of integrators without their own; default: unlimited. Across all replicas (each takes 1/N). */
  rateLimit?: RateLimit;
  /** A facade replica not heard from for this long no longer takes a share of rate limits; default 10 000 ms. */
  replicaTtlMs?: number;
  log: Logger;
  /** Default 30 000 ms. */
  queryTimeoutMs?: number;
  /** Queries and result reads need the integrator to have paired with the site (Halo's rule); default true. */
  requirePairing?: boolean;
  /** Registry answer cache TTL; default 2000 ms. */
  cacheTtlMs?: number;
  /** Default: a fresh random token per call. */
  requesterId?: string;
  /** Requester stall timer (ms); default the chunk protocol's. */
  stallMs?: number;
  /** Default: this package's version. */
  version?: string;
  /** Async queries: stream and bucket replicas and result TTL (defaults 1 and 24 h); false to serve none. */
  async?: { replicas?: number; resultTtlMs?: number } | false;
  /** Registered queries: the operator's minimum frequency (HALO_REGISTERED_MIN_FREQUENCY_SECONDS, default 60); served with async queries. */
  registered?: { minFrequencySeconds?: number };
  /** Webhook URLs (support API): whether they may reach private addresses or use http (HALO_WEBHOOK_ALLOW_PRIVATE); served with async queries. */
  webhooks?: { allowPrivate?: boolean };
  /** Support keys for `/support/*` (HALO_SUPPORT_KEYS); none: every support request answers 401. */
  supportKeys?: readonly SupportKey[];
  /** Serve `POST /enrol` (operator/JWT mode: the registry mints link credentials); default false. */
  enrolment?: boolean;
  /** HTTPS instead of HTTP: PEM certificate (chain) and key files. */
  https?: { certFile: string; keyFile: string };
  /** Connection bounds (timeouts, connection cap); each defaults to DEFAULT_HTTP_LIMITS. */
  http?: Partial<HttpLimits>;
  /** Event-loop and heap bounds above which requests answer 503 `overloaded`; each defaults to DEFAULT_LOAD_SHEDDING. */
  loadShedding?: Partial<LoadShedding>;
  /** On close, how long `/health/ready` answers 503 before the facade stops accepting (HALO_HTTP_DRAIN_DELAY_MS); default 0. */
  drainDelayMs?: number;
  /** Where the facade's series go (served on HALO_METRICS_PORT by main.ts); without it none are recorded. */
  metrics?: Registry;
  /** Serve the support console (`/console`), integrator portal (`/portal`) and record usage; default true. */
  browserUis?: boolean;
}

/** A listening facade. */
export interface RunningFacade {
  /** Base URL, e.g. `http://127.0.0.1:41234`. */
  readonly url: string;
  /**
   * Turns not-ready (`/health/ready` 503) for drainDelayMs, then stops accepting requests and waits for in-flight
   * ones (at most the HTTP close timeout); the NATS connection stays open.
   */
  close(): Promise<void>;
}

/** Builds the facade over real NATS-backed deps and listens; used by main.ts and integration tests. */
export async function startFacade(options: StartFacadeOptions): Promise<RunningFacade> {
  const { nc, log } = options;
  // What can fail without opening anything comes first: nothing is left open when a file is missing.
  const auth = authenticator(options.keys, options.integrators ?? []);
  const https = options.https ? { cert: readFileSync(options.https.certFile), key: readFileSync(options.https.keyFile) } : undefined;
  const version = options.version ?? packageVersion();
  // Then each resource, its close registered as soon as it is open: a failure closes what came before it.
  const closes: Array<() => unknown> = [];
  const closeAll = async () => {
    for (let close = closes.pop(); close; close = closes.pop()) await close();
  };
  let draining = false;
  try {
    const nats = connectionState(nc);
    closes.push(() => nats.close());
    const asyncQueries = options.async === false ? undefined : await NatsAsyncQueryStore.open({ nc, connection: nats, ...options.async });
    // Registered queries and webhooks live in JetStream beside async queries, and are served when they are.
    const replicasOption = options.async && options.async.replicas !== undefined ? { replicas: options.async.replicas } : {};
    const registered = options.async === false ? undefined : await NatsRegisteredStore.open({ nc, connection: nats, ...replicasOption, ...options.registered });
    const webhooks = options.async === false ? undefined : await NatsWebhookAdmin.open({ nc, connection: nats, ...replicasOption, urlPolicy: { allowPrivate: options.webhooks?.allowPrivate ?? false } });
    const requesterId = options.requesterId ?? randomBytes(12).toString('hex');
    const queries = new NatsQueryClient({ nc, log, connection: nats, requesterId, ...(options.stallMs !== undefined ? { stallMs: options.stallMs } : {}) });
    closes.push(() => queries.close());
    // Rate limits hold across replicas: each enforces 1/N of them (FacadeReplicas says why that suffices).
    const replicas = await FacadeReplicas.open({
      nc, log, id: requesterId,
      ...(options.replicaTtlMs !== undefined ? { ttlMs: options.replicaTtlMs } : {}),
      ...(options.async && options.async.replicas !== undefined ? { replicas: options.async.replicas } : {}),
    });
    closes.push(() => replicas.close());
    const immediate = new ImmediateQueries(nc, log);
    closes.push(() => immediate.close());
    const directory = new NatsSiteDirectory({ nc, log, connection: nats, ...(options.cacheTtlMs !== undefined ? { cacheTtlMs: options.cacheTtlMs } : {}) });
    closes.push(() => directory.close());
    // Registry bucket changes drop cached sites at once (an authority move is seen within milliseconds, not a TTL).
    await directory.watch();
    const supportRegistry = new NatsSupportRegistry({ nc });
    if (options.metrics) recordFacadeMetrics(options.metrics, { directory, replicas });
    const uis = options.browserUis === false ? undefined : await openBrowserUis(nc, options.keys, options.integrators ?? [], options.async ? options.async.replicas : undefined, log);
    if (uis) closes.push(() => uis.close());
    const ui = uis?.ui;
    const app = buildApp({
      directory,
      queries,
      auth: uis?.auth ?? auth,
      rateLimiter: new TokenBucketLimiter({ shares: () => replicas.count(), ...(options.rateLimit ? { defaultLimit: options.rateLimit } : {}) }),
      log,
      version,
      queryTimeoutMs: options.queryTimeoutMs ?? 30_000,
      health: dependencyHealth({ nc, nats: nats.status }),
      ...(asyncQueries ? { asyncQueries } : {}),
      ...(registered ? { registered } : {}),
      immediate,
      support: { auth: supportKeyAuthenticator(options.supportKeys ?? []), registry: supportRegistry, ...(webhooks ? { webhooks } : {}) },
      ...(options.enrolment ? { enrolment: supportRegistry } : {}),
      ...(options.requirePairing === false ? {} : { pairings: new NatsPairings(nc) }),
      ...(ui ? { ui } : {}),
    }, {
      ...(https ? { https } : {}),
      ...(options.http ? { http: options.http } : {}),
      ...(options.loadShedding ? { loadShedding: options.loadShedding } : {}),
      draining: () => draining,
      ...(options.metrics ? { metrics: options.metrics } : {}),
    });
    closes.push(() => app.close());
    const url = await app.listen({ port: options.port, host: options.host });
    log.info({ url, keys: options.keys.length, integrators: options.integrators?.length ?? 0 }, 'facade listening');
    const drainDelayMs = options.drainDelayMs ?? 0;
    const close = async () => {
      // A load balancer polling /health/ready stops sending requests before this replica refuses them.
      draining = true;
      log.info({ drainDelayMs }, 'facade draining');
      if (drainDelayMs > 0) await sleep(drainDelayMs);
      await closeAll();
    };
    return { url, close };
  } catch (err) {
    await closeAll().catch((closeErr: unknown) => log.error({ err: closeErr }, 'closing after a failed start failed'));
    throw err;
  }
}

/** One authenticator over keys in clear and hashed integrators; refuses weak keys and an integrator in both. */
function authenticator(keys: readonly SubscriptionKey[], integrators: readonly IntegratorKeys[]): Authenticator {
  assertUsableKeys(keys);
  const fromKeys = groupKeys(keys);
  const ids = new Set(integrators.map((i) => i.id));
  const twice = fromKeys.find((i) => ids.has(i.id));
  if (twice) throw new TypeError(`integrator ${twice.id} has keys both in the integrators file and in HALO_SUBSCRIPTION_KEYS; keep one`);
  return integratorAuthenticator([...fromKeys, ...integrators]);
}

function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version?: unknown };
  return typeof pkg.version === 'string' ? pkg.version : '0.0.0';
}
