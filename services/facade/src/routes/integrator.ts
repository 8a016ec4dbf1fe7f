import type { FastifyInstance } from 'fastify';
import { AppError } from '@halo/contracts';
import type { FacadeDeps } from '../deps.ts';
import { notFoundHandler } from '../error-handler.ts';
import { SUBSCRIPTION_KEY_HEADER } from '../openapi.ts';
import { queryRoutes } from './queries.ts';
import { sitesRoutes } from './sites.ts';

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the subscription key check on every `/integrator/*` request. */
    integratorId: string;
  }
}

/**
 * Everything under `/integrator`: the key check runs at onRequest, before the body is read, so unauthenticated
 * callers learn nothing about routes, sites or body rules (unknown routes here also answer 401 first).
 */
export async function integratorRoutes(app: FastifyInstance, options: { deps: FacadeDeps }): Promise<void> {
  const { deps } = options;
  app.decorateRequest('integratorId', '');
  app.addHook('onRequest', async (request) => {
    const header = request.headers[SUBSCRIPTION_KEY_HEADER];
    const principal = deps.auth.authenticate(typeof header === 'string' ? header : undefined);
    if (!principal) throw new AppError('unauthorized', 'missing or invalid subscription key');
    request.integratorId = principal.integratorId;
    request.log = request.log.child({ integratorId: principal.integratorId });
  });
  app.setNotFoundHandler(notFoundHandler);
  await app.register(sitesRoutes, { deps });
  await app.register(queryRoutes, { deps });
}
