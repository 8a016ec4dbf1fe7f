/**
 * Subject builders of ARCHITECTURE §3. Every token is checked: a GUID or id with a dot, space or wildcard
 * would silently widen a subscription or permission, so builders throw instead.
 */
const TOKEN = /^[A-Za-z0-9_-]+$/;

function token(kind: string, value: string): string {
  if (!TOKEN.test(value)) throw new TypeError(`invalid ${kind} subject token`);
  return value;
}

export const REGISTRY_VERBS = [
  'lookup', 'site', 'support.list', 'support.move', 'support.audit',
  'enrol', 'support.enrolmentToken', 'support.revoke', 'pair', 'support.keyRotated',
  'support.webhookChanged',
] as const;
export type RegistryVerb = (typeof REGISTRY_VERBS)[number];

/**
 * What a link asks of the registry about itself. The Link GUID is in the subject, the only thing the hub pins to the
 * link's user; the registry refuses a payload naming another link.
 */
export const LINK_REGISTRY_VERBS = ['register', 'unregister'] as const;
export type LinkRegistryVerb = (typeof LINK_REGISTRY_VERBS)[number];

/** Queue group every registry replica joins. */
export const REGISTRY_QUEUE = 'halo-registry';

export const subjects = {
  /** Query requests for one site, published by requesters. */
  query: (linkGuid: string, haloGuid: string) => `halo.v1.q.${token('link', linkGuid)}.${token('halo', haloGuid)}`,
  /** Everything a link may receive as queries. */
  queryAll: (linkGuid: string) => `halo.v1.q.${token('link', linkGuid)}.>`,
  /** Result chunks from the agent of `linkGuid` to one requester for one query. */
  reply: (linkGuid: string, requesterId: string, queryId: string) =>
    `halo.v1.r.${token('link', linkGuid)}.${token('requester', requesterId)}.${token('query', queryId)}`,
  /** Prefix a link may publish replies under. */
  replyPrefix: (linkGuid: string) => `halo.v1.r.${token('link', linkGuid)}.`,
  /** Everything addressed to one requester, from any link. */
  replyWildcard: (requesterId: string) => `halo.v1.r.*.${token('requester', requesterId)}.>`,
  /** Credits and cancel from the requester to the agent. */
  ack: (linkGuid: string, queryId: string) => `halo.v1.ack.${token('link', linkGuid)}.${token('query', queryId)}`,
  ackAll: (linkGuid: string) => `halo.v1.ack.${token('link', linkGuid)}.>`,
  heartbeat: (linkGuid: string) => `halo.v1.hb.${token('link', linkGuid)}`,
  heartbeatAll: () => 'halo.v1.hb.*',
  registry: (verb: RegistryVerb) => `halo.v1.registry.${verb}`,
  /** A link's own registration or uninstall: `halo.v1.registry.<verb>.<linkGuid>`. */
  linkRegistry: (verb: LinkRegistryVerb, linkGuid: string) => `halo.v1.registry.${verb}.${token('link', linkGuid)}`,
  /** What the registry serves for `verb`, for every link. */
  linkRegistryAll: (verb: LinkRegistryVerb) => `halo.v1.registry.${verb}.*`,
  /**
   * Audit entries about one practice (`practiceToken` is its base64url PMS ID): `authority` moves, `site`
   * retirements (removed, uninstalled). Practice-scoped so one practice's trail is one subject filter.
   */
  audit: (kind: 'authority' | 'site', pmsType: string, practiceToken: string) =>
    `halo.v1.audit.${kind}.${token('pms type', pmsType)}.${token('practice', practiceToken)}`,
  /**
   * Audit entries about a link's credentials (`link`: enrolled, revoked), an enrolment token (`token`: issued) or an
   * integrator's subscription keys (`integrator`, id hex-encoded: a key slot rotated).
   */
  auditCredentials: (kind: 'link' | 'token' | 'integrator', id: string) => `halo.v1.audit.${kind}.${token(kind, id)}`,
  /** Everything the `audit` stream holds. */
  auditAll: () => 'halo.v1.audit.>',
  /** Cancel of one query (immediate or async), heard by every facade replica and worker. */
  cancel: (queryId: string) => `halo.v1.cancel.${token('query', queryId)}`,
  cancelAll: () => 'halo.v1.cancel.*',
  /** Cancel of an immediate query, answered only by the facade replica that runs it. */
  cancelImmediate: (queryId: string) => `halo.v1.icancel.${token('query', queryId)}`,
  cancelImmediateAll: () => 'halo.v1.icancel.*',
  /** Durable async work for one site (JetStream work-queue stream). */
  asyncWork: (haloGuid: string) => `halo.v1.work.${token('halo', haloGuid)}`,
  asyncWorkAll: () => 'halo.v1.work.>',
  /** Agent inbox prefixes are whole tokens so permissions can pin them. */
  agentInbox: (linkGuid: string) => `_INBOX.${token('link', linkGuid)}`,
} as const;

/** Parses `halo.v1.r.<link>.<requester>.<query>`; null if the subject has another shape. */
export function parseReplySubject(subject: string): { linkGuid: string; requesterId: string; queryId: string } | null {
  const parts = subject.split('.');
  if (parts.length !== 6 || parts[0] !== 'halo' || parts[1] !== 'v1' || parts[2] !== 'r') return null;
  const [, , , linkGuid, requesterId, queryId] = parts as [string, string, string, string, string, string];
  return { linkGuid, requesterId, queryId };
}
