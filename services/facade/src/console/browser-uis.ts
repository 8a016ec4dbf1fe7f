import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import fastifyStatic from '@fastify/static';
import type { Authenticator, SiteDirectory, SupportDeps } from '../deps.ts';
import type { BrowserUiDeps } from './browser-ui-deps.ts';
import { consoleRoutes } from './console-routes.ts';
import { portalRoutes } from '../portal/portal-routes.ts';

/** Default lifetime of a console or portal session. */
export const DEFAULT_SESSION_TTL_MS = 8 * 3600 * 1000;

/** `/console` (support keys) and `/portal` (subscription keys), and their bundled assets under `/console/assets`. */
export async function browserUis(app: FastifyInstance, options: { ui: BrowserUiDeps; support?: SupportDeps; auth: Authenticator; directory: SiteDirectory }): Promise<void> {
  const { ui } = options;
  const ttlMs = ui.sessionTtlMs ?? DEFAULT_SESSION_TTL_MS;
  const nc = ui.nc ? { nc: ui.nc } : {};
  await app.register(fastifyStatic, { root: fileURLToPath(new URL('./assets/', import.meta.url)), prefix: '/console/assets/', decorateReply: false, maxAge: 3_600_000 });
  if (options.support) {
    const scope = { signer: ui.signer, kind: 'support', cookie: 'halo_console', base: '/console', ttlMs } as const;
    await app.register(consoleRoutes, { scope, support: options.support, integrators: ui.integrators, ...nc, ...(ui.history ? { history: ui.history } : {}) });
  }
  const scope = { signer: ui.signer, kind: 'portal', cookie: 'halo_portal', base: '/portal', ttlMs } as const;
  await app.register(portalRoutes, { scope, auth: options.auth, usage: ui.usage, directory: options.directory, ...nc, ...(ui.deliveries ? { deliveries: ui.deliveries } : {}) });
}
