import Fastify, { type FastifyInstance } from 'fastify';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FacadeDeps } from './deps.ts';
import { errorHandler, notFoundHandler } from './error-handler.ts';
import { strictJsonBodies } from './json-body-parser.ts';
import { integratorGate } from './integrator-access.ts';
import { FacadeLogController } from './log-controller.ts';
import { swaggerOptions } from './openapi.ts';
import { healthRoutes } from './routes/health.ts';
import { integratorRoutes } from './routes/integrator.ts';
import { asyncQueryRoutes } from './routes/async-queries.ts';
import { supportRoutes } from './routes/support.ts';
import { enrolmentRoutes } from './routes/enrolment.ts';
import { jsonSerializerCompiler, zodValidatorCompiler } from './zod-schema.ts';

/** Largest request body accepted; beyond it, 413 payload_too_large. */
export const BODY_LIMIT = 1024 * 1024;

/**
 * Builds the integrator HTTP API as a Fastify instance (not yet listening). All I/O comes in through `deps`,
 * so tests drive it with `inject()` and small in-memory implementations.
 */
export function buildApp(deps: FacadeDeps, options: { https?: { key: string | Buffer; cert: string | Buffer } } = {}): FastifyInstance {
  const app = Fastify({
    ...(options.https ? { https: options.https } : {}),
    loggerInstance: deps.log,
    logController: new FacadeLogController(),
    bodyLimit: BODY_LIMIT,
    // close() ends keep-alive and half-closed connections too, instead of waiting for Node's header timeout
    // (up to ~90 s) on a socket whose client went away mid-stream.
    forceCloseConnections: true,
    // Malformed URLs (bad percent-encoding, over-long path segments) get the error shape too, not fastify's
    // default body, which quotes the path.
    frameworkErrors: errorHandler,
    // pino's Logger is a FastifyBaseLogger; the cast keeps the plain FastifyInstance type plugins expect.
  }) as unknown as FastifyInstance;

  strictJsonBodies(app);

  app.setValidatorCompiler(zodValidatorCompiler);
  app.setSerializerCompiler(jsonSerializerCompiler);
  app.setErrorHandler(errorHandler);
  app.setNotFoundHandler(notFoundHandler);

  // Registered on the root (not inside a plugin) so swagger's onRoute hook sees every route.
  app.register(swagger, swaggerOptions(deps.version));
  app.register(swaggerUi, { routePrefix: '/docs' });
  app.register(healthRoutes, { deps });
  // One gate for both /integrator plugins, so a request is counted once against its integrator's rate.
  const gate = integratorGate(deps.auth, deps.rateLimiter);
  app.register(integratorRoutes, { deps, gate, prefix: '/integrator' });
  if (deps.asyncQueries) app.register(asyncQueryRoutes, { deps, gate, store: deps.asyncQueries, prefix: '/integrator' });
  if (deps.support) app.register(supportRoutes, { support: deps.support, prefix: '/support' });
  if (deps.enrolment) app.register(enrolmentRoutes, { enrolment: deps.enrolment });
  return app;
}
