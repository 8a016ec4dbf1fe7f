import { createHash, randomBytes } from 'node:crypto';
import { Kvm, type KV } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import { z } from 'zod';
import {
  AppError, EnrolRequest, SupportEnrolmentTokenRequest, SupportRevokeRequest,
  type EnrolResult, type Environment, type SupportEnrolmentTokenResult, type SupportRevokeResult,
} from '@halo/contracts';
import {
  encodeJwt, lookupAccountJwt, pushAccountJwt, revocationsOf, userClaims, withRevocations, type KeyPair,
} from '@halo/nats-auth';
import type { Logger } from '@halo/log';
import type { AuditLog } from './audit.ts';

/** KV buckets of enrolment: one-time tokens (by SHA-256 of the token) and every key minted per link. */
export const ENROLMENT_BUCKETS = { tokens: 'enrolment_tokens', linkKeys: 'link_keys' } as const;

/** What the registry needs to mint link credentials and to revoke them. */
export interface EnrolmentConfig {
  /** The environment account's public key (`issuer_account` of link users). */
  accountPublicKey: string;
  /** The account's scoped signing key for links: users it signs get the link template, whatever they claim. */
  linkSigningKey: KeyPair;
  /** Revocations: a SYS connection (claims pusher) and the operator signing key that re-signs the account JWT. */
  revocation?: { sysNc: NatsConnection; operatorSigningKey: KeyPair };
  /** Revocations cover JWTs issued up to this many seconds after now (registry replicas' clocks differ); default 300. */
  clockSkewSeconds?: number;
}

const TokenRecord = z.object({ env: z.string(), expiresAt: z.number(), by: z.string(), note: z.string().optional(), createdAt: z.number() });
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
    const kvm = new Kvm(nc);
    const tokens = await kvm.create(ENROLMENT_BUCKETS.tokens, { replicas, history: 1 });
    const links = await kvm.create(ENROLMENT_BUCKETS.linkKeys, { replicas, history: 5 });
    return new Enrolment(tokens, links, deps);
  }

  /** Issues a one-time token for this registry's environment; only its hash is stored. */
  async issueToken(input: SupportEnrolmentTokenRequest): Promise<SupportEnrolmentTokenResult> {
    const request = SupportEnrolmentTokenRequest.parse(input);
    if (request.env !== undefined && request.env !== this.#env) throw new AppError('bad_request', `this registry serves ${this.#env}, not ${request.env}`);
    const token = randomBytes(32).toString('base64url');
    const now = this.#now();
    const expiresAt = now + request.ttlSeconds * 1000;
    await this.#tokens.create(tokenKey(token), JSON.stringify({ env: this.#env, expiresAt, by: request.by, createdAt: now, ...(request.note ? { note: request.note } : {}) }));
    await this.#audit.appendCredentials({ action: 'enrolment.token_issued', at: iso(now), who: request.by, ...(request.note ? { reason: request.note } : {}) }, 'token', tokenKey(token).slice(0, 32));
    this.#log.info({ by: request.by, env: this.#env, expiresAt: iso(expiresAt) }, 'enrolment token issued');
    return { token, env: this.#env, expiresAt: iso(expiresAt) };
  }

  /**
   * Consumes a token (once: a delete conditional on the revision read, so of two racing enrolments one wins) and
   * mints the link's user JWT for the public key the agent generated. Every failure is the same 401.
   */
  async enrol(input: EnrolRequest): Promise<EnrolResult> {
    const request = EnrolRequest.parse(input);
    const refused = () => new AppError('unauthorized', 'invalid, expired or used enrolment token');
    const key = tokenKey(request.token);
    const entry = await this.#tokens.get(key);
    if (!entry || entry.operation !== 'PUT') throw refused();
    const record = TokenRecord.safeParse(entry.json());
    const now = this.#now();
    try {
      await this.#tokens.delete(key, { previousSeq: entry.revision });
    } catch {
      throw refused();
    }
    if (!record.success || record.data.env !== this.#env || record.data.expiresAt <= now) {
      this.#log.warn({ linkGuid: request.linkGuid, reason: !record.success ? 'corrupt' : record.data.env !== this.#env ? 'env' : 'expired' }, 'enrolment refused');
      throw refused();
    }
    const existing = await this.#linkKeys(request.linkGuid);
    if (existing.value && existing.value.env !== this.#env) throw refused();
    if (existing.value?.keys.some((k) => k.publicKey === request.publicKey)) {
      // A key is minted for once; a revoked one must never come back (the agent makes a new key to re-enrol).
      throw new AppError('bad_request', 'this public key was enrolled before; generate a new one');
    }
    const jwt = encodeJwt(userClaims({
      userKey: request.publicKey, name: request.linkGuid, issuerAccount: this.#config.accountPublicKey, tags: [`env:${this.#env}`, 'role:halo-link'],
    }), this.#config.linkSigningKey, { issuedAt: Math.floor(now / 1000) });
    const next: LinkKeys = {
      env: this.#env,
      enrolledAt: now,
      keys: [...(existing.value?.keys ?? []), { publicKey: request.publicKey, issuedAt: Math.floor(now / 1000) }],
    };
    await this.#links.put(request.linkGuid, JSON.stringify(next));
    await this.#audit.appendCredentials({ action: 'link.enrolled', at: iso(now), who: `link:${request.linkGuid}`, linkGuid: request.linkGuid, reason: `token issued by ${record.data.by}` }, 'link', request.linkGuid, `${request.linkGuid}:enrolled:${request.publicKey}`);
    this.#log.info({ linkGuid: request.linkGuid, env: this.#env }, 'link enrolled');
    return { jwt, env: this.#env, accountPublicKey: this.#config.accountPublicKey };
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
    const wanted = Object.fromEntries(keys.map((k) => [k.publicKey, k.revokedUntil]));
    await this.#push(revocation, wanted);
    await this.#audit.appendCredentials({ action: 'link.revoked', at: iso(now), who: request.by, reason: request.reason, linkGuid: request.linkGuid }, 'link', request.linkGuid, `${request.linkGuid}:revoked:${now}`);
    this.#log.info({ linkGuid: request.linkGuid, keys: keys.length, by: request.by }, 'link revoked');
    return { linkGuid: request.linkGuid, env: this.#env, revokedKeys: keys.map((k) => k.publicKey), revokedUntil: iso(until * 1000) };
  }

  /**
   * Read, merge, re-sign, push, then read back: another replica pushing at the same moment may have replaced our
   * JWT with one built before our revocation, so we push again until the resolver holds every key we revoked.
   */
  async #push(revocation: NonNullable<EnrolmentConfig['revocation']>, wanted: Record<string, number>): Promise<void> {
    const account = this.#config.accountPublicKey;
    for (let attempt = 0; ; attempt++) {
      const current = await lookupAccountJwt(revocation.sysNc, account);
      const held = revocationsOf(current);
      if (Object.entries(wanted).every(([k, at]) => (held[k] ?? 0) >= at)) return;
      if (attempt >= 5) throw new AppError('registry_unavailable', 'the revocation could not be pushed to the hub');
      try {
        await pushAccountJwt(revocation.sysNc, withRevocations(current, wanted, revocation.operatorSigningKey));
      } catch (err) {
        this.#log.warn({ attempt, err: err instanceof Error ? err.message : 'unknown' }, 'revocation push failed; retrying');
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
