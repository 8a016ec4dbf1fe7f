import { z } from 'zod';
import { Environment, Guid, PmsId, PmsType } from './identifiers.ts';
import { ErrorCodes } from './errors.ts';

export const Catalogue = z.object({ name: z.string().min(1).max(128), isDefault: z.boolean() });
export type Catalogue = z.infer<typeof Catalogue>;

export const SiteStatus = z.enum(['initialising', 'active', 'removed', 'uninstalled']);
export type SiteStatus = z.infer<typeof SiteStatus>;

export const Availability = z.enum(['online', 'offline', 'unreachable']);
export type Availability = z.infer<typeof Availability>;

/** What an agent knows about one database it serves, as sent at registration. */
export const SiteRegistration = z.object({
  haloGuid: Guid,
  pmsType: PmsType,
  pmsId: PmsId,
  practiceName: z.string().max(256),
  practiceManagementVersion: z.string().max(64).optional(),
  /** Where the database lives (engine, server, database name or file); no credentials. */
  databaseIdentity: z.string().max(512),
  catalogues: z.array(Catalogue).max(256),
});
export type SiteRegistration = z.infer<typeof SiteRegistration>;

/** SHA-256 (hex) of a pairing code the PMS issued: the code itself never leaves the practice. */
export const PairingCodeHash = z.string().regex(/^[0-9a-f]{64}$/);

export const RegisterRequest = z.object({
  linkGuid: Guid,
  env: Environment,
  version: z.string().max(64),
  sites: z.array(SiteRegistration).max(1000),
  /** Pairing codes each site's PMS currently issues, as hashes (`POST /integrator/pair-site`). */
  pairing: z.array(z.object({ haloGuid: Guid, codeHashes: z.array(PairingCodeHash).max(16) })).max(1000).optional(),
  /**
   * Halo GUIDs of every database in the agent's config, including ones it could not open this time. A site this
   * link registered before and that is absent here has left the config: the registry marks it `removed`.
   * Without it, `sites` is taken as the whole config.
   */
  configuredSites: z.array(Guid).max(1000).optional(),
});
export type RegisterRequest = z.infer<typeof RegisterRequest>;

export const RegisterResult = z.object({
  sites: z.array(z.object({ haloGuid: Guid, authoritative: z.boolean() })),
});
export type RegisterResult = z.infer<typeof RegisterResult>;

/** KV `sites` value. */
export const SiteRecord = SiteRegistration.omit({ haloGuid: true }).extend({
  linkGuid: Guid,
  env: Environment,
  status: SiteStatus,
  haloLinkVersion: z.string(),
  createdAt: z.string(),
  updatedAt: z.string(),
});
export type SiteRecord = z.infer<typeof SiteRecord>;

/** KV `practices` value: which Halo GUID is authoritative for a (PMS type, PMS ID). */
export const PracticeRecord = z.object({
  authoritative: Guid,
  epoch: z.number().int().nonnegative(),
  since: z.string(),
  /** Support user who last moved authority, and why (also in the audit stream). */
  by: z.string().optional(),
  reason: z.string().optional(),
});
export type PracticeRecord = z.infer<typeof PracticeRecord>;

/**
 * A Halo Link's own counts since it started, sent in every heartbeat (a practice has no inbound port to scrape):
 * numbers only, never query text, parameters or rows. The registry keeps the last one per link and serves it as
 * metrics and in the support API's link view.
 */
export const LinkMetrics = z.object({
  /** Queries answered to the end (rows or a nonQuery's count). */
  queriesServed: z.number().int().nonnegative(),
  /** Queries that ended in an error (refused, failed in the database, cut off). */
  queriesFailed: z.number().int().nonnegative(),
  /** Result bytes sent to requesters (encoded chunks). */
  bytesSent: z.number().int().nonnegative(),
  /** Queries running or queued now. */
  inFlight: z.number().int().nonnegative(),
});
export type LinkMetrics = z.infer<typeof LinkMetrics>;

/**
 * The auto-updater's last outcome, as the agent reports it: up to date, updated (from `previous`), a release
 * refused (`code`: bad_signature, unknown_key, expired, downgrade, bad_hash, bad_size, ...), or a new version
 * rolled back (`failedVersion`, `code`: exited or unhealthy) and marked bad.
 */
export const UpdateStatus = z.object({
  state: z.enum(['up-to-date', 'updated', 'refused', 'rolled-back', 'failed']),
  version: z.string().max(64),
  previous: z.string().max(64).optional(),
  failedVersion: z.string().max(64).optional(),
  code: z.string().max(64).optional(),
  badVersions: z.array(z.string().max(64)).max(50).optional(),
  at: z.string(),
});
export type UpdateStatus = z.infer<typeof UpdateStatus>;

/** KV `links` value. */
export const LinkRecord = z.object({
  version: z.string(),
  env: Environment,
  sites: z.array(Guid),
  lastSeen: z.string(),
  /** Agent clock minus registry clock at the last heartbeat (ms). */
  clockSkewMs: z.number().optional(),
  /** Statements running and queued at the last heartbeat. */
  load: z.object({ inFlight: z.number().int().nonnegative(), queued: z.number().int().nonnegative() }).optional(),
  /** The link's counts at its last heartbeat (absent from agents older than this field). */
  metrics: LinkMetrics.optional(),
  /** When the agent said it was stopping (its last heartbeat): offline from then on, without waiting. */
  stoppedAt: z.string().optional(),
  /** When the agent reported being uninstalled. */
  uninstalledAt: z.string().optional(),
  /** The auto-updater's last outcome, from the last heartbeat that carried one. */
  updateStatus: UpdateStatus.optional(),
});
export type LinkRecord = z.infer<typeof LinkRecord>;

/** A site as the registry answers lookups: the record plus its authority and availability. */
export const SiteView = SiteRecord.extend({
  haloGuid: Guid,
  authoritative: z.boolean(),
  availability: Availability,
  lastSeen: z.string().optional(),
  /** The link's clock was more than the allowed drift (60 s) off the registry's at its last heartbeat. */
  clockDrift: z.boolean().optional(),
});
export type SiteView = z.infer<typeof SiteView>;

export const LookupRequest = z.object({ pmsId: PmsId, pmsType: PmsType.optional(), env: Environment.optional() });
export type LookupRequest = z.infer<typeof LookupRequest>;
export const LookupResult = z.object({ sites: z.array(SiteView) });
export type LookupResult = z.infer<typeof LookupResult>;

export const SiteRequest = z.object({ haloGuid: Guid });
export type SiteRequest = z.infer<typeof SiteRequest>;
export const SiteResult = z.object({ site: SiteView.nullable() });
export type SiteResult = z.infer<typeof SiteResult>;

/** Heartbeat: metadata only, never query data. */
export const Heartbeat = z.object({
  linkGuid: Guid,
  version: z.string().max(64),
  sites: z.array(Guid).max(1000),
  load: z.object({ inFlight: z.number().int().nonnegative(), queued: z.number().int().nonnegative() }),
  clock: z.number(),
  /** Optional: agents of earlier versions do not send it. */
  metrics: LinkMetrics.optional(),
  /** Set on the last heartbeat of an agent that is shutting down: the registry marks it offline at once. */
  stopping: z.boolean().optional(),
  updateStatus: UpdateStatus.optional(),
});
export type Heartbeat = z.infer<typeof Heartbeat>;

/** `halo.v1.registry.unregister`: the agent is being uninstalled; its sites become `uninstalled`. */
export const UnregisterRequest = z.object({ linkGuid: Guid });
export type UnregisterRequest = z.infer<typeof UnregisterRequest>;
export const UnregisterResult = z.object({ sites: z.array(Guid) });
export type UnregisterResult = z.infer<typeof UnregisterResult>;

/** Every service-to-service reply over NATS: a result or a coded error. */
export const WireError = z.object({ code: z.enum(ErrorCodes), message: z.string() });
export type WireError = z.infer<typeof WireError>;

export function Envelope<T extends z.ZodType>(result: T) {
  return z.discriminatedUnion('ok', [z.object({ ok: z.literal(true), result }), z.object({ ok: z.literal(false), error: WireError })]);
}

/**
 * PMS types whose PMS profile issues pairing codes: pairing with one of their practices needs a code. Practices of
 * other types pair by PMS ID and type alone, as Halo pairs non-Best Practice sites (extend this as profiles learn to
 * read their PMS's codes).
 */
export const PAIRING_CODE_PMS_TYPES: readonly string[] = ['sample'];

/**
 * `halo.v1.registry.pair`: an integrator pairs with the site whose PMS issued the code, or (PMS types without codes)
 * with the authoritative site of the practice. With `pmsType`/`pmsId`, the site must be of that practice.
 */
export const PairRequest = z.object({
  integratorId: z.string().min(1).max(128),
  codeHash: PairingCodeHash.optional(),
  pmsType: PmsType.optional(),
  pmsId: PmsId.optional(),
  /** The PMS types the integrator is onboarded for (absent: every type): no pairing is recorded for another. */
  onboardedPmsTypes: z.array(PmsType).max(256).optional(),
});
export type PairRequest = z.infer<typeof PairRequest>;
export const PairResult = z.object({ site: SiteView.nullable() });
export type PairResult = z.infer<typeof PairResult>;
