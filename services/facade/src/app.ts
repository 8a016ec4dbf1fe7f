import Fastify, { type FastifyInstance } from 'fastify';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FacadeDeps } from './deps.ts';
import { errorHandler, notFoundHandler } from './error-handler.ts';
import { FacadeLogController } from './log-controller.ts';
import { swaggerOptions } from './openapi.ts';
import { healthRoutes } from './routes/health.ts';
import { integratorRoutes } from './routes/integrator.ts';
import { asyncQueryRoutes } from './routes/async-queries.ts';
import { supportRoutes } from './routes/support.ts';
import { jsonSerializerCompiler, zodValidatorCompiler } from './zod-schema.ts';

/** Largest request body accepted; beyond it, 413 payload_too_large. */
export const BODY_LIMIT = 1024 * 1024;

/**
 * Builds the integrator HTTP API as a Fastify instance (not yet listening). All I/O comes in through `deps`,
 * so tests drive it with `inject()` and small in-memory implementations.
 */
export function buildApp(deps: FacadeDeps): FastifyInstance {
  const app = Fastify({
    loggerInstance: deps.log,
    logController: new FacadeLogController(),
    bodyLimit: BODY_LIMIT,
    // pino's Logger is a FastifyBaseLogger; the cast keeps the plain FastifyInstance type plugins expect.
  }) as unknown as FastifyInstance;

  app.setValidatorCompiler(zodValidatorCompiler);
  app.setSerializerCompiler(jsonSerializerCompiler);
  app.setErrorHandler(errorHandler);
  app.setNotFoundHandler(notFoundHandler);

  // Registered on the root (not inside a plugin) so swagger's onRoute hook sees every route.
  app.register(swagger, swaggerOptions(deps.version));
  app.register(swaggerUi, { routePrefix: '/docs' });
  app.register(healthRoutes, { deps });
  app.register(integratorRoutes, { deps, prefix: '/integrator' });
  if (deps.asyncQueries) app.register(asyncQueryRoutes, { deps, store: deps.asyncQueries, prefix: '/integrator' });
  if (deps.support) app.register(supportRoutes, { support: deps.support, prefix: '/support' });
  return app;
}
