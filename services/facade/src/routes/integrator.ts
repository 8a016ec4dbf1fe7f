import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from '../http/zod-schema.ts';
import type { FacadeDeps } from '../deps.ts';
import { notFoundHandler } from '../http/error-handler.ts';
import { principalOf, type IntegratorGate } from '../auth/integrator-access.ts';
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
export async function integratorRoutes(instance: FastifyInstance, options: { deps: FacadeDeps; gate: IntegratorGate }): Promise<void> {
  const app = instance.withTypeProvider<ZodTypeProvider>();
  const { deps, gate } = options;
  app.decorateRequest('integratorId', '');
  app.addHook('onRequest', async (request) => {
    await gate(request);
    request.integratorId = principalOf(request).integratorId;
  });
  app.setNotFoundHandler(notFoundHandler);
  await app.register(sitesRoutes, { deps });
  await app.register(queryRoutes, { deps });
}
