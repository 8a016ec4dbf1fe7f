import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AppError } from '@halo/contracts';
import { errorHandler, toAppError } from '../http/error-handler.ts';
import type { Session, SessionSigner } from './session.ts';

/** HTML that is already escaped (made by `html`), so interpolating it again does not escape it twice. */
export class Html {
  readonly text: string;
  constructor(text: string) {
    this.text = text;
  }
  toString(): string {
    return this.text;
  }
}

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Escapes text for HTML content and quoted attributes. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}

type Part = Html | string | number | boolean | null | undefined | readonly Part[];

function render(part: Part): string {
  if (part === null || part === undefined || part === false) return '';
  if (part instanceof Html) return part.text;
  if (Array.isArray(part)) return part.map(render).join('');
  return escapeHtml(String(part));
}

/** Tagged template: every interpolated value is escaped unless it is Html itself (arrays are joined). */
export function html(strings: TemplateStringsArray, ...values: Part[]): Html {
  let out = strings[0]!;
  values.forEach((value, i) => {
    out += render(value) + strings[i + 1]!;
  });
  return new Html(out);
}

/** A whole page: one stylesheet and one script, both served from the repository (no CDN). */
export function page(options: { title: string; base: '/console' | '/portal'; nav?: Html; body: Html; live?: string }): string {
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${options.title} · Halo ${options.base === '/console' ? 'support console' : 'integrator portal'}</title>
<link rel="stylesheet" href="/console/assets/console.css">
<script src="/console/assets/console.js" defer></script>
</head>
<body${options.live ? html` data-live="${options.live}"` : ''}>
<header class="top"><a class="brand" href="${options.base}">${options.base === '/console' ? 'Halo support console' : 'Halo integrator portal'}</a>${options.nav ?? ''}</header>
<main id="main">
<h1>${options.title}</h1>
${options.body}
</main>
</body>
</html>`.text;
}

/** Reads one cookie of the request. */
export function cookieOf(request: FastifyRequest, name: string): string | undefined {
  const header = request.headers.cookie;
  if (typeof header !== 'string') return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/** A session cookie: HttpOnly, Secure, SameSite=Strict, limited to its UI's path, gone after `maxAgeMs`. */
export function sessionCookie(name: string, value: string, path: string, maxAgeMs: number): string {
  return `${name}=${value}; Path=${path}; Max-Age=${Math.floor(maxAgeMs / 1000)}; HttpOnly; Secure; SameSite=Strict`;
}

/**
 * Parses `application/x-www-form-urlencoded` bodies (the console's forms) in this plugin only; URLSearchParams is
 * Node's own parser, so no dependency is needed for it. Repeated fields keep the last value.
 */
export function formBodies(app: FastifyInstance): void {
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: 64 * 1024 }, (_request, body, done) => {
    done(null, Object.fromEntries(new URLSearchParams(body as string)));
  });
}

/** The string field `name` of a parsed form body, trimmed; '' when missing. */
export function field(body: unknown, name: string): string {
  const value = (body as Record<string, unknown> | null | undefined)?.[name];
  return typeof value === 'string' ? value.trim() : '';
}

/** What the UIs' routes share: the signer, and the cookie name, path and lifetime of their sessions. */
export interface SessionScope {
  signer: SessionSigner;
  kind: Session['kind'];
  cookie: string;
  base: '/console' | '/portal';
  ttlMs: number;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The signed-in session of a console or portal page (set by `requireSession`). */
    uiSession: Session | null;
  }
}

/**
 * onRequest of every page but the sign-in form: no valid session redirects a page view to the sign-in form (401 for
 * anything else); every POST must carry the session's CSRF token in `_csrf` (403 `csrf_failed` otherwise), checked
 * in preHandler once the form is parsed.
 */
export function requireSession(app: FastifyInstance, scope: SessionScope): void {
  app.decorateRequest('uiSession', null);
  const signIn = `${scope.base}/sign-in`;
  app.addHook('onRequest', async (request, reply) => {
    if (request.url.split('?')[0] === signIn) return;
    const session = scope.signer.verify(cookieOf(request, scope.cookie), scope.kind);
    if (!session) {
      if (request.method === 'GET' && !request.headers.accept?.includes('text/event-stream')) {
        return reply.redirect(signIn, 303);
      }
      throw new AppError('unauthorized', 'sign in first');
    }
    request.uiSession = session;
  });
  app.addHook('preHandler', async (request) => {
    if (request.method === 'GET' || request.method === 'HEAD' || !request.uiSession) return;
    if (!scope.signer.checkCsrf(request.uiSession, field(request.body, '_csrf'))) {
      throw new AppError('csrf_failed', 'the form is missing its CSRF token or it does not match this session; reload the page');
    }
  });
}

/** The hidden CSRF field of a form. */
export function csrfField(scope: SessionScope, session: Session): Html {
  return html`<input type="hidden" name="_csrf" value="${scope.signer.csrfToken(session)}">`;
}

/** Sends an HTML page with headers that keep it out of frames and shared caches and allow only our own assets. */
export function sendPage(reply: FastifyReply, body: string, status = 200): FastifyReply {
  return reply
    .code(status)
    .header('content-type', 'text/html; charset=utf-8')
    .header('cache-control', 'no-store')
    .header('x-frame-options', 'DENY')
    .header('content-security-policy', "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'; form-action 'self'")
    .send(body);
}

/**
 * Errors of a page a browser navigated to (Accept: text/html) as a page with the same status, code and message;
 * anything else (fetch, scripts) gets the facade's JSON error shape. 5xx details stay in the log either way.
 */
export function htmlErrors(app: FastifyInstance, base: '/console' | '/portal'): void {
  app.setErrorHandler((error, request, reply) => {
    if (!request.headers.accept?.includes('text/html')) return errorHandler(error, request, reply);
    const appError = toAppError(error);
    if (appError.status >= 500) request.log.warn({ code: appError.code, status: appError.status, err: error }, 'console page failed');
    else request.log.info({ code: appError.code, status: appError.status }, 'console request rejected');
    const body = html`<p class="notice error" role="alert"><strong>${appError.status} ${appError.code}</strong>: ${appError.message}</p>
<p><a href="${base}">Back</a></p>`;
    return sendPage(reply, page({ title: 'Something went wrong', base, body }), appError.status);
  });
}

/** Sign-in form of the console or the portal. */
function signInPage(base: SessionScope['base'], label: string, error: string | undefined): string {
  return page({
    title: 'Sign in',
    base,
    body: html`${error ? html`<p class="notice error" role="alert">${error}</p>` : ''}
<form method="post" action="${base}/sign-in" class="stack narrow">
<label for="key">${label}</label>
<input id="key" name="key" type="password" autocomplete="off" required>
<button type="submit">Sign in</button>
</form>`,
  });
}

/**
 * `<base>/sign-in` (the form, and the key exchanged for a session cookie) and `<base>/sign-out` (clears it; a
 * change like any other, so behind the CSRF check). `authenticate` maps a key to the session's subject.
 */
export function signInRoutes(app: FastifyInstance, scope: SessionScope, options: { label: string; home: string; authenticate(key: string | undefined): string | null }): void {
  const { base } = scope;
  app.get(`${base}/sign-in`, async (_request, reply) => sendPage(reply, signInPage(base, options.label, undefined)));
  app.post(`${base}/sign-in`, async (request, reply) => {
    const sub = options.authenticate(field(request.body, 'key') || undefined);
    if (sub === null) {
      request.log.info({ ui: base }, 'sign-in refused');
      return sendPage(reply, signInPage(base, options.label, `That ${options.label.toLowerCase()} is not valid.`), 401);
    }
    const { cookie } = scope.signer.issue(scope.kind, sub, scope.ttlMs);
    request.log.info({ ui: base, sub }, 'signed in');
    return reply.header('set-cookie', sessionCookie(scope.cookie, cookie, base, scope.ttlMs)).redirect(options.home, 303);
  });
  app.post(`${base}/sign-out`, async (_request, reply) =>
    reply.header('set-cookie', sessionCookie(scope.cookie, '', base, 0)).redirect(`${base}/sign-in`, 303));
}
