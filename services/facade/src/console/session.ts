import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { NatsConnection } from '@nats-io/transport-node';
import { z } from 'zod';
import { openBucket } from '@halo/messaging';

/** KV bucket of the browser UIs: holds the key sessions are signed with, shared by every facade replica. */
export const CONSOLE_BUCKET = 'console';
const SECRET_KEY = 'session-secret';

/** A signed-in browser: the support user (console) or integrator (portal), until `exp` (epoch ms). */
export const Session = z.object({
  kind: z.enum(['support', 'portal']),
  /** Support user id or integrator id. */
  sub: z.string(),
  /** Random per sign-in; the CSRF token is derived from it. */
  sid: z.string(),
  exp: z.number().int(),
});
export type Session = z.infer<typeof Session>;

/**
 * Stateless sessions: the cookie is `payload.signature` (HMAC-SHA256, base64url), so any replica holding the secret
 * checks it without a shared session table. Sign-out clears the cookie; a copied cookie stays valid until it
 * expires, which is why the lifetime is short.
 */
export class SessionSigner {
  readonly #secret: Buffer;

  constructor(secret: Buffer) {
    if (secret.length < 32) throw new TypeError('the session secret must be at least 32 bytes');
    this.#secret = secret;
  }

  /** Opens the shared secret, minting it on first use (the first replica's write wins, the others read it). */
  static async open(nc: NatsConnection, replicas = 1): Promise<SessionSigner> {
    const kv = await openBucket(nc, CONSOLE_BUCKET, { history: 1, replicas });
    const fresh = randomBytes(32).toString('base64url');
    await kv.create(SECRET_KEY, fresh).catch(() => undefined);
    const entry = await kv.get(SECRET_KEY);
    if (!entry) throw new Error('the console session secret could not be read');
    return new SessionSigner(Buffer.from(entry.string(), 'base64url'));
  }

  issue(kind: Session['kind'], sub: string, ttlMs: number, now = Date.now()): { cookie: string; session: Session } {
    const session: Session = { kind, sub, sid: randomBytes(16).toString('base64url'), exp: now + ttlMs };
    const payload = Buffer.from(JSON.stringify(session)).toString('base64url');
    return { cookie: `${payload}.${this.#mac(`session.${payload}`)}`, session };
  }

  /** The session a cookie carries if its signature holds, it is of `kind` and has not expired; else null. */
  verify(cookie: string | undefined, kind: Session['kind'], now = Date.now()): Session | null {
    if (!cookie) return null;
    const dot = cookie.indexOf('.');
    if (dot <= 0) return null;
    const payload = cookie.slice(0, dot);
    if (!equal(cookie.slice(dot + 1), this.#mac(`session.${payload}`))) return null;
    let json: unknown;
    try {
      json = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
    } catch {
      return null;
    }
    const parsed = Session.safeParse(json);
    if (!parsed.success || parsed.data.kind !== kind || parsed.data.exp <= now) return null;
    return parsed.data;
  }

  /** The CSRF token of a session: forms carry it, every change checks it. */
  csrfToken(session: Session): string {
    return this.#mac(`csrf.${session.sid}`);
  }

  checkCsrf(session: Session, token: unknown): boolean {
    return typeof token === 'string' && equal(token, this.csrfToken(session));
  }

  #mac(text: string): string {
    return createHmac('sha256', this.#secret).update(text).digest('base64url');
  }
}

function equal(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
