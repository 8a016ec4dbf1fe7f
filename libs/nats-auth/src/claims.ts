import { subjects } from '@halo/contracts';
import type { JwtClaims } from './jwt.ts';

/** `pub` / `sub` allow lists of a NATS user (anything not listed is denied). */
export interface Permissions {
  pub: { allow: string[] };
  sub: { allow: string[] };
}

/** Connection types of `allowed_connection_types`. */
export type ConnectionType = 'STANDARD' | 'LEAFNODE' | 'LEAFNODE_WS' | 'WEBSOCKET' | 'MQTT';

/** The role a Halo Link user gets from its environment account's scoped signing key. */
export const LINK_ROLE = 'halo-link';

/**
 * What the agent of one link may do, through its leaf (ARCHITECTURE §3): publish its own result chunks,
 * heartbeats and (un)registration, each on a subject naming the link; receive its own queries, acks and inbox.
 * Nothing else.
 */
export function linkPermissions(linkGuid: string): Permissions {
  return {
    pub: {
      allow: [
        `${subjects.replyPrefix(linkGuid)}>`, subjects.heartbeat(linkGuid),
        subjects.linkRegistry('register', linkGuid), subjects.linkRegistry('unregister', linkGuid),
      ],
    },
    sub: { allow: [subjects.queryAll(linkGuid), subjects.ackAll(linkGuid), `${subjects.agentInbox(linkGuid)}.>`] },
  };
}

/**
 * linkPermissions as a scoped signing key template: `{{name()}}` is the user JWT's name, which the registry sets
 * to the Link GUID. The server applies the template to every user that key signs, whatever the user JWT says,
 * so even a stolen link signing key can only mint users pinned to one link's subjects.
 */
export function linkScopeTemplate(): Record<string, unknown> {
  const placeholder = 'LINKGUIDPLACEHOLDER';
  const swap = (list: string[]) => list.map((s) => s.replaceAll(placeholder, '{{name()}}'));
  const perms = linkPermissions(placeholder);
  return {
    pub: { allow: swap(perms.pub.allow) },
    sub: { allow: swap(perms.sub.allow) },
    subs: -1, data: -1, payload: -1,
    // LEAFNODE_WS: a leaf over the hub's WebSocket listener (wss:// hub URLs).
    allowed_connection_types: ['LEAFNODE', 'LEAFNODE_WS'],
  };
}

const JS = ['$JS.API.>', '$JS.ACK.>', '$JS.FC.>'];

/**
 * Hub-side service users. Inboxes are `_INBOX.>` (request replies); JetStream and KV / object store subjects are
 * what the nats.js KV, object store and consumer clients use. Services never subscribe to query subjects and the
 * registry never publishes queries.
 */
export const SERVICE_PERMISSIONS = {
  registry: {
    pub: { allow: ['_INBOX.>', 'halo.v1.audit.>', '$KV.sites.>', '$KV.practices.>', '$KV.links.>', '$KV.practice_sites.>', '$KV.enrolment_tokens.>', '$KV.link_keys.>', '$KV.pairing_codes.>', '$KV.pairings.>', ...JS] },
    sub: { allow: ['_INBOX.>', 'halo.v1.registry.>', subjects.heartbeatAll()] },
  },
  facade: {
    pub: {
      allow: [
        '_INBOX.>', 'halo.v1.q.>', 'halo.v1.ack.>', 'halo.v1.registry.>', 'halo.v1.cancel.>', 'halo.v1.icancel.>', 'halo.v1.work.>', 'halo.v1.rq.>',
        '$KV.>', '$O.>', ...JS,
      ],
    },
    sub: { allow: ['_INBOX.>', 'halo.v1.r.*.>', 'halo.v1.cancel.*', 'halo.v1.icancel.*', '$KV.>', '$O.>'] },
  },
  worker: {
    pub: { allow: ['_INBOX.>', 'halo.v1.q.>', 'halo.v1.ack.>', 'halo.v1.registry.lookup', 'halo.v1.registry.site', 'halo.v1.work.>', 'halo.v1.rq.>', 'halo.v1.wh.>', '$KV.>', '$O.>', ...JS] },
    sub: { allow: ['_INBOX.>', 'halo.v1.r.*.>', 'halo.v1.cancel.*', '$KV.>', '$O.>'] },
  },
} as const satisfies Record<string, Permissions>;
export type ServiceRole = keyof typeof SERVICE_PERMISSIONS;

/** The SYS user the registry pushes account updates (revocations) with, and reads the current account JWT. */
export const CLAIMS_PUSHER_PERMISSIONS: Permissions = {
  pub: { allow: ['$SYS.REQ.CLAIMS.UPDATE', '$SYS.REQ.ACCOUNT.*.CLAIMS.LOOKUP'] },
  sub: { allow: ['_INBOX.>'] },
};

export function operatorClaims(options: { operatorKey: string; name: string; signingKeys: string[]; systemAccount: string }): JwtClaims {
  return { sub: options.operatorKey, name: options.name, nats: { type: 'operator', signing_keys: options.signingKeys, system_account: options.systemAccount } };
}

/** A scoped signing key: users it signs get `template` as their permissions and limits. */
export interface ScopedSigningKey {
  kind: 'user_scope';
  key: string;
  role: string;
  template: Record<string, unknown>;
  description?: string;
}

export interface AccountOptions {
  accountKey: string;
  name: string;
  /** JetStream for the registry, facade and worker; none for SYS. */
  jetstream: boolean;
  signingKeys?: Array<string | ScopedSigningKey>;
  /** user public key -> unix seconds: JWTs of that user issued at or before it are refused and their connections closed. */
  revocations?: Record<string, number>;
  description?: string;
}

export function accountClaims(options: AccountOptions): JwtClaims {
  const js = options.jetstream ? { mem_storage: -1, disk_storage: -1, streams: -1, consumer: -1 } : {};
  return {
    sub: options.accountKey,
    name: options.name,
    nats: {
      type: 'account',
      limits: { subs: -1, data: -1, payload: -1, imports: -1, exports: -1, wildcards: true, conn: -1, leaf: -1, ...js },
      default_permissions: { pub: {}, sub: {} },
      ...(options.signingKeys?.length ? { signing_keys: options.signingKeys } : {}),
      ...(options.revocations && Object.keys(options.revocations).length > 0 ? { revocations: options.revocations } : {}),
      ...(options.description ? { description: options.description } : {}),
    },
  };
}

export interface UserOptions {
  userKey: string;
  name: string;
  /** The account's public key when the user is signed by one of its signing keys (not its identity key). */
  issuerAccount?: string;
  /** Omitted for users of a scoped signing key: the scope's template applies instead. */
  permissions?: Permissions;
  allowedConnectionTypes?: ConnectionType[];
  tags?: string[];
  /** Unix seconds. */
  expires?: number;
}

export function userClaims(options: UserOptions): JwtClaims {
  const scoped = options.permissions === undefined;
  return {
    sub: options.userKey,
    name: options.name,
    ...(options.expires !== undefined ? { exp: options.expires } : {}),
    nats: {
      type: 'user',
      ...(options.issuerAccount ? { issuer_account: options.issuerAccount } : {}),
      ...(scoped ? {} : { pub: options.permissions!.pub, sub: options.permissions!.sub, subs: -1, data: -1, payload: -1 }),
      ...(options.allowedConnectionTypes && !scoped ? { allowed_connection_types: options.allowedConnectionTypes } : {}),
      ...(options.tags?.length ? { tags: options.tags } : {}),
    },
  };
}
