import { z } from 'zod';
import { Availability, LinkMetrics, SiteView, UpdateStatus } from './registry.ts';
import { Environment, Guid, PmsId, PmsType } from './identifiers.ts';

/** Support user ids name a person or tool in the audit trail; they are never secret. */
export const SupportUserId = z.string().regex(/^[A-Za-z0-9_.@-]{1,64}$/, 'letters, digits, _ . @ - only');
export type SupportUserId = z.infer<typeof SupportUserId>;

/** Why authority moved: required, kept in the audit trail. */
export const SupportReason = z.string().trim().min(1, 'a reason is required').max(1000);
export type SupportReason = z.infer<typeof SupportReason>;

/** A link as support sees it: version, last heartbeat, availability and clock drift. */
export const SupportLink = z.object({
  linkGuid: Guid,
  env: Environment,
  version: z.string(),
  sites: z.array(Guid),
  lastSeen: z.string(),
  availability: Availability,
  clockSkewMs: z.number().optional(),
  clockDrift: z.boolean(),
  load: z.object({ inFlight: z.number().int().nonnegative(), queued: z.number().int().nonnegative() }).optional(),
  /** The link's query counts at its last heartbeat. */
  metrics: LinkMetrics.optional(),
  uninstalledAt: z.string().optional(),
  updateStatus: UpdateStatus.optional(),
});
export type SupportLink = z.infer<typeof SupportLink>;

/** A practice (PMS type x PMS ID): which site is authoritative, since when, and every site sharing the PMS ID. */
export const SupportPractice = z.object({
  pmsType: PmsType,
  pmsId: PmsId,
  authoritative: Guid,
  epoch: z.number().int().nonnegative(),
  since: z.string(),
  by: z.string().optional(),
  reason: z.string().optional(),
  sites: z.array(SiteView),
});
export type SupportPractice = z.infer<typeof SupportPractice>;

/** `halo.v1.registry.support.list`: practices (optionally of one PMS ID / type) and the links serving them. */
export const SupportListRequest = z.object({ pmsId: PmsId.optional(), pmsType: PmsType.optional() });
export type SupportListRequest = z.infer<typeof SupportListRequest>;
export const SupportListResult = z.object({ practices: z.array(SupportPractice), links: z.array(SupportLink) });
export type SupportListResult = z.infer<typeof SupportListResult>;

/** One audit entry (stream `audit`): who did what, when, from what to what, and why. Never query data. */
export const AuditEntry = z.object({
  action: z.enum([
    'authority.moved', 'site.removed', 'site.uninstalled', 'link.enrolled', 'link.revoked', 'enrolment.token_issued',
    'link.reenrolled', 'enrolment.refused', 'integrator.key_rotated',
    'integrator.webhook_set', 'integrator.webhook_removed',
  ]),
  at: z.string(),
  /** A support user id, or `link:<linkGuid>` for changes an agent reported. */
  who: z.string(),
  reason: z.string().optional(),
  pmsType: PmsType.optional(),
  pmsId: PmsId.optional(),
  from: Guid.optional(),
  to: Guid.optional(),
  epoch: z.number().int().nonnegative().optional(),
  haloGuid: Guid.optional(),
  linkGuid: Guid.optional(),
  /** `integrator.key_rotated`, `integrator.webhook_*`: whose key, which slot (1-based); never the key or its hash. */
  integratorId: z.string().max(64).optional(),
  slot: z.number().int().min(1).max(2).optional(),
  /** `integrator.webhook_set`: the URL (never the signing secret). */
  url: z.string().max(2048).optional(),
  /** Stream sequence (set when read back). */
  seq: z.number().int().positive().optional(),
});
export type AuditEntry = z.infer<typeof AuditEntry>;

/** `halo.v1.registry.support.move`: make `to` authoritative for (pmsType, pmsId), compare-and-set. */
export const SupportMoveRequest = z.object({
  pmsType: PmsType,
  pmsId: PmsId,
  to: Guid,
  reason: SupportReason,
  by: SupportUserId,
  /** The epoch the support user saw; if authority moved since, the move is refused with 409 `conflict`. */
  expectedEpoch: z.number().int().nonnegative().optional(),
});
export type SupportMoveRequest = z.infer<typeof SupportMoveRequest>;
/**
 * `audit` is this move (its `epoch` is the one it wrote); `practice` is the practice as read right after it, so a
 * move made a moment later by someone else may already show there.
 */
export const SupportMoveResult = z.object({ practice: SupportPractice, audit: AuditEntry });
export type SupportMoveResult = z.infer<typeof SupportMoveResult>;

/** `halo.v1.registry.support.audit`: the newest entries, optionally of one practice. */
export const SupportAuditRequest = z.object({
  pmsType: PmsType.optional(),
  pmsId: PmsId.optional(),
  limit: z.number().int().min(1).max(1000).default(100),
});
export type SupportAuditRequest = z.input<typeof SupportAuditRequest>;
export const SupportAuditResult = z.object({ entries: z.array(AuditEntry) });
export type SupportAuditResult = z.infer<typeof SupportAuditResult>;

// HTTP shapes of `/support/*` (facade).

/** `GET /support/practices` and `GET /support/sites` query string. */
export const SupportPracticesQuery = z.object({ pmsId: PmsId.optional(), pmsType: PmsType.optional() }).strict();
export type SupportPracticesQuery = z.infer<typeof SupportPracticesQuery>;
export const SupportSitesQuery = z.object({ pmsId: PmsId, pmsType: PmsType.optional() }).strict();
export type SupportSitesQuery = z.infer<typeof SupportSitesQuery>;
export const SupportSitesResponse = z.object({ sites: z.array(SiteView) });
export type SupportSitesResponse = z.infer<typeof SupportSitesResponse>;
/** `POST /support/authority` body: who is the authenticated support user, never a body field. */
export const SupportMoveBody = SupportMoveRequest.omit({ by: true }).strict();
export type SupportMoveBody = z.infer<typeof SupportMoveBody>;
export const SupportAuditQuery = z.object({
  pmsId: PmsId.optional(),
  pmsType: PmsType.optional(),
  limit: z.coerce.number().int().min(1).max(1000).optional(),
}).strict();
export type SupportAuditQuery = z.infer<typeof SupportAuditQuery>;

/** `halo.v1.registry.support.keyRotated`: the facade rotated an integrator's key slot; the registry audits it. */
export const SupportKeyRotatedRequest = z.object({
  integratorId: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/),
  slot: z.number().int().min(1).max(2),
  by: SupportUserId,
});
export type SupportKeyRotatedRequest = z.infer<typeof SupportKeyRotatedRequest>;
export const SupportKeyRotatedResult = z.object({ audit: AuditEntry });
export type SupportKeyRotatedResult = z.infer<typeof SupportKeyRotatedResult>;

/** `halo.v1.registry.support.webhookChanged`: a facade set or removed an integrator's webhook; the registry audits it. */
export const SupportWebhookChangedRequest = z.object({
  integratorId: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/),
  change: z.enum(['set', 'removed']),
  url: z.string().max(2048).optional(),
  by: SupportUserId,
});
export type SupportWebhookChangedRequest = z.infer<typeof SupportWebhookChangedRequest>;
export const SupportWebhookChangedResult = z.object({ audit: AuditEntry });
export type SupportWebhookChangedResult = z.infer<typeof SupportWebhookChangedResult>;
