import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { KV } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import { z } from 'zod';
import {
  AppError, EnrolRequest, SupportEnrolmentTokenRequest, SupportRevokeRequest,
  type EnrolResult, type Environment, type SupportEnrolmentTokenResult, type SupportRevokeResult,
} from '@halo/contracts';
import {
  encodeJwt, lookupAccountJwt, pushAccountJwt, revocationsOf, userClaims, withLinkScope, withRevocations, type KeyPair,
} from '@halo/nats-auth';
import type { Logger } from '@halo/log';
import { openBucket } from '@halo/messaging';
import type { AuditLog } from './audit.ts';

/** KV buckets of enrolment: one-time tokens (by SHA-256 of the token) and every key minted per link. */
export const ENROLMENT_BUCKETS = { tokens: 'enrolment_tokens', linkKeys: 'link_keys' } as const;

/** What the registry needs to mint link credentials and to revoke them. */
export interface EnrolmentConfig {
  /** The environment account's public key (`issuer_account` of link users). */
  accountPublicKey: string;
  /** The account's scoped signing key for links: users it signs get the link template, whatever they claim. */
  linkSigningKey: KeyPair;
  /**
   * Account updates: a SYS connection (claims pusher) and the operator signing key that re-signs the account JWT.
   * Revocations (support's, and a re-enrolment's of the link's earlier keys) need it, and so does bringing the
   * account's link template up to date.
   */
  revocation?: { sysNc: NatsConnection; operatorSigningKey: KeyPair };
  /** Handed to every enrolling link: the hub's leafnode URLs and the PEM of their certificate's CA. */
  hub?: { leafUrls: string[]; caPem?: string };
  /** Revocations cover JWTs issued up to this many seconds after now (registry replicas' clocks differ); default 300. */
  clockSkewSeconds?: number;
}

/** A token's record; `linkGuid` makes it a re-enrolment token for that link only. */
const TokenRecord = z.object({
  env: z.string(), expiresAt: z.number(), by: z.string(), note: z.string().optional(), createdAt: z.number(), linkGuid: z.string().optional(),
});
type TokenRecord = z.infer<typeof TokenRecord>;
const LinkKeys = z.object({
  env: z.string(),
  keys: z.array(z.object({ publicKey: z.string(), issuedAt: z.number(), revokedUntil: z.number().optional() })),
  enrolledAt: z.number(),
  revokedAt: z.number().optional(),
});
type LinkKeys = z.infer<typeof LinkKeys>;

const tokenKey = (token: string) => createHash('sha256').update(token, 'utf8').digest('hex');
const iso = (ms: number) => new Date(ms).toISOString();

/** Enrolment (one-time tokens, minting a link's user JWT) and revocation, for one environment. */
export class Enrolment {
  readonly #tokens: KV;
  readonly #links: KV;
  readonly #config: EnrolmentConfig;
  readonly #env: Environment;
  readonly #audit: AuditLog;
  readonly #log: Logger;
  readonly #now: () => number;

  private constructor(tokens: KV, links: KV, deps: { config: EnrolmentConfig; env: Environment; audit: AuditLog; log: Logger; now: () => number }) {
    this.#tokens = tokens;
    this.#links = links;
    this.#config = deps.config;
    this.#env = deps.env;
    this.#audit = deps.audit;
    this.#log = deps.log;
    this.#now = deps.now;
  }

  static async open(nc: NatsConnection, replicas: number, deps: { config: EnrolmentConfig; env: Environment; audit: AuditLog; log: Logger; now: () => number }): Promise<Enrolment> {
    const tokens = await openBucket(nc, ENROLMENT_BUCKETS.tokens, { replicas, history: 1 });
    const links = await openBucket(nc, ENROLMENT_BUCKETS.linkKeys, { replicas, history: 5 });
    return new Enrolment(tokens, links, deps);
  }

  /**
   * Issues a one-time token for this registry's environment; only its hash is stored. With `linkGuid` it re-enrols
   * that link (which must have been enrolled here) and nothing else, revoking the link's earlier keys when used.
   */
  async issueToken(input: SupportEnrolmentTokenRequest): Promise<SupportEnrolmentTokenResult> {
    const request = SupportEnrolmentTokenRequest.parse(input);
    if (request.env !== undefined && request.env !== this.#env) throw new AppError('bad_request', `this registry serves ${this.#env}, not ${request.env}`);
    if (request.linkGuid !== undefined) {
      const { value } = await this.#linkKeys(request.linkGuid);
      if (!value || value.env !== this.#env) throw new AppError('not_found', 'no credentials were minted for that link');
      if (!this.#config.revocation) throw new AppError('registry_unavailable', "this registry cannot revoke the link's earlier credentials (no SYS credentials)");
    }
    const token = randomBytes(32).toString('base64url');
    const now = this.#now();
    const expiresAt = now + request.ttlSeconds * 1000;
    const record: TokenRecord = {
      env: this.#env, expiresAt, by: request.by, createdAt: now,
      ...(request.note ? { note: request.note } : {}), ...(request.linkGuid ? { linkGuid: request.linkGuid } : {}),
    };
    await this.#tokens.create(tokenKey(token), JSON.stringify(record));
    await this.#audit.appendCredentials({
      action: 'enrolment.token_issued', at: iso(now), who: request.by,
      ...(request.note ? { reason: request.note } : {}), ...(request.linkGuid ? { linkGuid: request.linkGuid } : {}),
    }, 'token', tokenKey(token).slice(0, 32));
    this.#log.info({ by: request.by, env: this.#env, expiresAt: iso(expiresAt), ...(request.linkGuid ? { linkGuid: request.linkGuid } : {}) }, 'enrolment token issued');
    return { token, env: this.#env, expiresAt: iso(expiresAt), ...(request.linkGuid ? { linkGuid: request.linkGuid } : {}) };
  }

  /**
   * Consumes a token (once: a delete conditional on the revision read, so of two racing enrolments one wins) and
   * mints a user JWT for the public key the agent generated. The Link GUID is never the caller's choice: a token
   * enrols a new link whose GUID is minted here, or, if support bound it to a link, that link, whose earlier keys
   * are then revoked. A request naming another link is refused (`enrolment_refused`); if that link exists, it was
   * an attempt to take it over: the token, evidently in the wrong hands, is spent and the attempt audited (an
   * unknown GUID, e.g. an agent from before the registry minted them, leaves the token usable). Every token
   * failure is the same 401.
   */
  async enrol(input: EnrolRequest): Promise<EnrolResult> {
    const request = EnrolRequest.parse(input);
    const refused = () => new AppError('unauthorized', 'invalid, expired or used enrolment token');
    const key = tokenKey(request.token);
    const entry = await this.#tokens.get(key);
    if (!entry || entry.operation !== 'PUT') throw refused();
    const parsed = TokenRecord.safeParse(entry.json());
    const now = this.#now();
    const record = parsed.success && parsed.data.env === this.#env && parsed.data.expiresAt > now ? parsed.data : undefined;
    if (record && request.linkGuid !== undefined && request.linkGuid !== record.linkGuid) {
      const takeover = (await this.#linkKeys(request.linkGuid)).value !== null;
      if (takeover) {
        await this.#tokens.delete(key, { previousSeq: entry.revision }).catch(() => undefined);
        await this.#audit.appendCredentials({
          action: 'enrolment.refused', at: iso(now), who: 'enrolment', linkGuid: request.linkGuid,
          reason: `${record.linkGuid ? 're-enrolment token for another link' : 'token for a new link'}, issued by ${record.by}, presented for this link; token spent`,
        }, 'link', request.linkGuid);
      }
      this.#log.warn({ linkGuid: request.linkGuid, takeover, reenrolment: record.linkGuid !== undefined }, 'enrolment as another link refused');
      throw new AppError('enrolment_refused', record.linkGuid
        ? 'this re-enrolment token is for another link'
        : 'an enrolment token enrols a new link, whose Link GUID the registry mints; to enrol an existing link again, ask support for a re-enrolment token for it');
    }
    try {
      await this.#tokens.delete(key, { previousSeq: entry.revision });
    } catch {
      throw refused();
    }
    if (!record) {
      this.#log.warn({ reason: !parsed.success ? 'corrupt' : parsed.data.env !== this.#env ? 'env' : 'expired' }, 'enrolment refused');
      throw refused();
    }
    try {
      return await this.#mint(record.linkGuid ?? randomUUID(), request.publicKey, record, now);
    } catch (err) {
      // Nothing was handed out: the token is put back so the practice can try again.
      await this.#tokens.create(key, JSON.stringify(record)).catch(() => undefined);
      throw err;
    }
  }

  /** Mints the JWT of `linkGuid` for `publicKey`; a re-enrolment (the token names the link) first revokes its earlier keys. */
  async #mint(linkGuid: string, publicKey: string, token: TokenRecord, now: number): Promise<EnrolResult> {
    const reenrolment = token.linkGuid !== undefined;
    const existing = await this.#linkKeys(linkGuid);
    if (reenrolment && (!existing.value || existing.value.env !== this.#env)) throw new AppError('not_found', 'no credentials were minted for that link');
    if (existing.value?.keys.some((k) => k.publicKey === publicKey)) {
      // A key is minted for once; a revoked one must never come back (the agent makes a new key to re-enrol).
      throw new AppError('bad_request', 'this public key was enrolled before; generate a new one');
    }
    let keys = existing.value?.keys ?? [];
    if (reenrolment) {
      const revocation = this.#config.revocation;
      if (!revocation) throw new AppError('registry_unavailable', "this registry cannot revoke the link's earlier credentials (no SYS credentials)");
      const until = Math.floor(now / 1000) + (this.#config.clockSkewSeconds ?? 300);
      const revoked = keys.map((k) => ({ ...k, revokedUntil: Math.max(k.revokedUntil ?? 0, until) }));
      await this.#pushRevocations(revocation, Object.fromEntries(revoked.map((k) => [k.publicKey, k.revokedUntil])));
      keys = revoked;
    }
    const jwt = encodeJwt(userClaims({
      userKey: publicKey, name: linkGuid, issuerAccount: this.#config.accountPublicKey, tags: [`env:${this.#env}`, 'role:halo-link'],
    }), this.#config.linkSigningKey, { issuedAt: Math.floor(now / 1000) });
    const next: LinkKeys = { env: this.#env, enrolledAt: now, keys: [...keys, { publicKey, issuedAt: Math.floor(now / 1000) }] };
    try {
      // A new link's GUID is fresh: `create` makes sure no existing link is ever overwritten.
      if (reenrolment) await this.#links.update(linkGuid, JSON.stringify(next), existing.revision);
      else await this.#links.create(linkGuid, JSON.stringify(next));
    } catch (cause) {
      throw new AppError('conflict', 'the link was enrolled or revoked meanwhile; retry', { cause });
    }
    await this.#audit.appendCredentials({
      action: reenrolment ? 'link.reenrolled' : 'link.enrolled', at: iso(now), who: `link:${linkGuid}`, linkGuid,
      reason: reenrolment ? `re-enrolment token issued by ${token.by}; ${keys.length} earlier key(s) revoked` : `token issued by ${token.by}`,
    }, 'link', linkGuid, `${linkGuid}:enrolled:${publicKey}`);
    this.#log.info({ linkGuid, env: this.#env, reenrolment, revokedKeys: reenrolment ? keys.length : 0 }, 'link enrolled');
    const hub = this.#config.hub;
    return {
      linkGuid, jwt, env: this.#env, accountPublicKey: this.#config.accountPublicKey,
      ...(hub ? { hubLeafUrls: hub.leafUrls, ...(hub.caPem ? { hubCaPem: hub.caPem } : {}) } : {}),
    };
  }

  /**
   * Revokes every key the link was ever enrolled with: the account JWT gets `revocations[key] = now + skew`,
   * pushed to the hub's resolver, which closes the link's leaf at once and refuses it from then on.
   */
  async revoke(input: SupportRevokeRequest): Promise<SupportRevokeResult> {
    const request = SupportRevokeRequest.parse(input);
    const revocation = this.#config.revocation;
    if (!revocation) throw new AppError('registry_unavailable', 'this registry cannot push revocations (no SYS credentials)');
    const { value, revision } = await this.#linkKeys(request.linkGuid);
    if (!value) throw new AppError('not_found', 'no credentials were minted for that link');
    const now = this.#now();
    const until = Math.floor(now / 1000) + (this.#config.clockSkewSeconds ?? 300);
    const keys = value.keys.map((k) => ({ ...k, revokedUntil: Math.max(k.revokedUntil ?? 0, until) }));
    try {
      await this.#links.update(request.linkGuid, JSON.stringify({ ...value, keys, revokedAt: now } satisfies LinkKeys), revision);
    } catch (cause) {
      throw new AppError('conflict', 'the link was enrolled or revoked meanwhile; retry', { cause });
    }
    await this.#pushRevocations(revocation, Object.fromEntries(keys.map((k) => [k.publicKey, k.revokedUntil])));
    await this.#audit.appendCredentials({ action: 'link.revoked', at: iso(now), who: request.by, reason: request.reason, linkGuid: request.linkGuid }, 'link', request.linkGuid, `${request.linkGuid}:revoked:${now}`);
    this.#log.info({ linkGuid: request.linkGuid, keys: keys.length, by: request.by }, 'link revoked');
    return { linkGuid: request.linkGuid, env: this.#env, revokedKeys: keys.map((k) => k.publicKey), revokedUntil: iso(until * 1000) };
  }

  /**
   * Brings the account's link template (the permissions of every link user) up to this version's: an account made
   * by an earlier setup still lets links register on subjects without their Link GUID. Returns whether it changed.
   */
  async updateLinkScope(): Promise<boolean> {
    const revocation = this.#config.revocation;
    if (!revocation) return false;
    const linkSigningKey = this.#config.linkSigningKey.getPublicKey();
    let changed = false;
    await this.#amendAccount(revocation, 'the link template', (current) => {
      const next = withLinkScope(current, linkSigningKey, revocation.operatorSigningKey);
      changed ||= next !== null;
      return next;
    });
    if (changed) this.#log.info({ env: this.#env }, 'account link template updated');
    return changed;
  }

  async #pushRevocations(revocation: NonNullable<EnrolmentConfig['revocation']>, wanted: Record<string, number>): Promise<void> {
    await this.#amendAccount(revocation, 'the revocation', (current) => {
      const held = revocationsOf(current);
      return Object.entries(wanted).every(([k, at]) => (held[k] ?? 0) >= at) ? null : withRevocations(current, wanted, revocation.operatorSigningKey);
    });
  }

  /**
   * Read, amend, re-sign, push, then read back until `amend` has nothing left to do (null): another replica pushing
   * at the same moment may have replaced our JWT with one built before our change, so we push again.
   */
  async #amendAccount(revocation: NonNullable<EnrolmentConfig['revocation']>, what: string, amend: (current: string) => string | null): Promise<void> {
    const account = this.#config.accountPublicKey;
    for (let attempt = 0; ; attempt++) {
      const next = amend(await lookupAccountJwt(revocation.sysNc, account));
      if (next === null) return;
      if (attempt >= 5) throw new AppError('registry_unavailable', `${what} could not be pushed to the hub`);
      try {
        await pushAccountJwt(revocation.sysNc, next);
      } catch (err) {
        this.#log.warn({ attempt, err: err instanceof Error ? err.message : 'unknown' }, 'account update push failed; retrying');
        await new Promise((r) => setTimeout(r, 200 * 2 ** attempt));
      }
    }
  }

  async #linkKeys(linkGuid: string): Promise<{ value: LinkKeys | null; revision: number }> {
    const entry = await this.#links.get(linkGuid);
    if (!entry || entry.operation !== 'PUT') return { value: null, revision: 0 };
    const parsed = LinkKeys.safeParse(entry.json());
    if (!parsed.success) throw new AppError('internal', 'corrupt link_keys record');
    return { value: parsed.data, revision: entry.revision };
  }
}
