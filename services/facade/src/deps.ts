import type { Logger } from '@halo/log';
import type { AsyncQueryStore } from './async-deps.ts';
import type { RegisteredQueryStore, WebhookAdmin } from './registered-deps.ts';
import type { RateLimit, RateLimiter } from './auth/rate-limit.ts';
import type {
  DependencyHealth, QueryCommand, RowFormat, SiteView, SupportAuditRequest, SupportAuditResult, SupportListRequest, SupportListResult, SupportMoveRequest, SupportMoveResult,
} from '@halo/contracts';
import type { ResultStream } from '@halo/messaging';
import type { BrowserUiDeps } from './console/browser-ui-deps.ts';
import type {
  EnrolRequest, EnrolResult, SupportEnrolmentTokenRequest, SupportEnrolmentTokenResult, SupportRevokeRequest, SupportRevokeResult,
} from '@halo/contracts';

/** Answers from the registry (NATS), cached. */
export interface SiteDirectory {
  lookup(req: { pmsId: string; pmsType?: string }): Promise<SiteView[]>;
  get(haloGuid: string): Promise<SiteView | null>;
  /**
   * Pairs the integrator with the site of the practice whose PMS issued the code (by its hash), or without a code
   * (PMS types whose profile issues none) with the practice's authoritative site; null when there is none.
   */
  pair?(integratorId: string, practice: { pmsType: string; pmsId: string; codeHash?: string }, onboardedPmsTypes?: readonly string[]): Promise<SiteView | null>;
}

/** One immediate query as the facade hands it to a QueryClient. */
export interface QueryExecution {
  queryId: string;
  /** How the agent encodes the rows: ndjson for a streamed answer, json (an array's records) otherwise. */
  rowFormat: RowFormat;
  catalogue?: string;
  command: QueryCommand;
  maxTimeInQueueMs: number;
  /** Epoch milliseconds after which nobody waits for the answer. */
  deadline: number;
}

/** Sends one query to the agent serving the site; rows stream back as the consumer asks for them. */
export interface QueryClient {
  start(site: SiteView, request: QueryExecution, signal: AbortSignal): ResultStream;
}

/** The integrator behind a subscription key. */
export interface Principal {
  integratorId: string;
  /** PMS types the integrator is onboarded for; undefined: every type (in-process and test keys only). */
  pmsTypes?: ReadonlySet<string>;
  /** Its own request rate; undefined: the limiter's default. */
  rateLimit?: RateLimit;
}

/** Maps a subscription key to the integrator holding it; null when the key is missing or unknown. */
export interface Authenticator {
  authenticate(subscriptionKey: string | undefined): Principal | null;
}

/** Everything the HTTP app needs from the outside world. */
export interface FacadeDeps {
  directory: SiteDirectory;
  queries: QueryClient;
  auth: Authenticator;
  log: Logger;
  version: string;
  /** Budget for running a query once it has left the agent's queue. */
  queryTimeoutMs: number;
  /** Each dependency's state for `/health` (probes cached briefly: load balancers poll it). */
  health(): HealthReport | Promise<HealthReport>;
  /** Async queries (KV, work queue, result store); without it the async routes are not served. */
  asyncQueries?: AsyncQueryStore;
  /** Registered queries (KV, tick stream, result store); without it those routes are not served. */
  registered?: RegisteredQueryStore;
  /** Running immediate queries, so a DELETE on any replica can cancel one. */
  immediate?: ImmediateCanceller;
  /** The support API under `/support/*`; without it those routes are not served. */
  support?: SupportDeps;
  /** `POST /enrol` (operator/JWT mode); without it the route is not served. */
  enrolment?: EnrolmentRelay;
  /** Per-integrator request rate (429 `rate_limited` beyond it); without it nothing is limited. */
  rateLimiter?: RateLimiter;
  /** Who paired with which site: with it, queries and result reads of an unpaired site are 403 `site_not_paired`. */
  pairings?: Pairings;
  /** The support console (`/console`), integrator portal (`/portal`) and usage recording; without it none of them. */
  ui?: BrowserUiDeps;
}

/** Pairings the registry recorded (KV `pairings`). */
export interface Pairings {
  /** Pairings are per practice: the one the site belongs to. */
  isPaired(integratorId: string, site: { pmsType: string; pmsId: string }): Promise<boolean>;
}

/** What `/health` says of each dependency: the NATS connection's state, and whether the registry and JetStream answer. */
export interface HealthReport {
  nats: string;
  registry: DependencyHealth;
  jetstream: DependencyHealth;
}

/** Maps a support key (`Authorization: Bearer <key>`) to the support user holding it; null when unknown. */
export interface SupportAuthenticator {
  authenticate(bearerKey: string | undefined): { supportUserId: string } | null;
}

/** The registry's support verbs (NATS). */
export interface SupportRegistry {
  list(request: SupportListRequest): Promise<SupportListResult>;
  sites(request: { pmsId: string; pmsType?: string }): Promise<SiteView[]>;
  move(request: SupportMoveRequest): Promise<SupportMoveResult>;
  audit(request: SupportAuditRequest): Promise<SupportAuditResult>;
  /** One-time enrolment tokens (operator/JWT mode only). */
  enrolmentToken?(request: SupportEnrolmentTokenRequest): Promise<SupportEnrolmentTokenResult>;
  /** Revokes a link's NATS credentials (operator/JWT mode only). */
  revoke?(request: SupportRevokeRequest): Promise<SupportRevokeResult>;
  /** Audits a key slot the console rotated (the registry writes the audit stream). */
  keyRotated?(request: { integratorId: string; slot: number; by: string }): Promise<unknown>;
  /** Audits a webhook set or removed (support API or console). */
  webhookChanged?(request: { integratorId: string; change: 'set' | 'removed'; url?: string; by: string }): Promise<unknown>;
}

/** What `/support/*` needs: its own credentials (never integrator keys) and the registry. */
export interface SupportDeps {
  auth: SupportAuthenticator;
  registry: SupportRegistry;
  /** Webhook URLs per integrator; without it `/support/integrators/{id}/webhook` is not served. */
  webhooks?: WebhookAdmin;
}

/** Tracks running immediate queries and cancels them by id (ImmediateQueries over NATS). */
export interface ImmediateCanceller {
  track(queryId: string, running: { integratorId: string; siteId: string; cancel(): void }): () => void;
  cancel(queryId: string, integratorId: string, siteId: string): Promise<boolean>;
}

/** Relays a Halo Link's enrolment (`POST /enrol`) to the registry. */
export interface EnrolmentRelay {
  enrol(request: EnrolRequest): Promise<EnrolResult>;
}
