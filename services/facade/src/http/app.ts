import Fastify, { type FastifyInstance } from 'fastify';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import { AppError } from '@halo/contracts';
import { boundLogger, markArrival, stageTraceEnabled, type Logger } from '@halo/log';
import type { FacadeDeps } from '../deps.ts';
import { clientErrorHandler, errorHandler, expectationFailed, notFoundHandler } from './error-handler.ts';
import { httpServerOptions, type HttpLimits } from './http-limits.ts';
import { strictJsonBodies } from './json-body-parser.ts';
import { shedLoad, type LoadShedding } from './load-shedding.ts';
import { integratorGate } from '../auth/integrator-access.ts';
import { FacadeLogController } from './log-controller.ts';
import { swaggerOptions } from './openapi.ts';
import { healthRoutes } from '../routes/health.ts';
import { integratorRoutes } from '../routes/integrator.ts';
import { asyncQueryRoutes } from '../routes/async-queries.ts';
import { registeredQueryRoutes } from '../routes/registered-queries.ts';
import { supportRoutes } from '../routes/support.ts';
import { enrolmentRoutes } from '../routes/enrolment.ts';
import { jsonSerializerCompiler, zodValidatorCompiler } from './zod-schema.ts';
import { recordHttpMetrics } from './http-metrics.ts';
import type { Registry } from '@halo/metrics';
import { browserUis } from '../console/browser-uis.ts';
import { recordUsage } from '../usage/usage-hook.ts';

/** Largest request body accepted; beyond it, 413 payload_too_large. */
export const BODY_LIMIT = 1024 * 1024;

export interface BuildAppOptions {
  https?: { key: string | Buffer; cert: string | Buffer };
  http?: Partial<HttpLimits>;
  /** Thresholds above which requests are refused 503 `overloaded`; each defaults to DEFAULT_LOAD_SHEDDING. */
  loadShedding?: Partial<LoadShedding>;
  /** True once shutdown began: `/health/ready` answers 503 and every answer closes its connection. */
  draining?: () => boolean;
  /** Where per-request series go (recordHttpMetrics); without it none are recorded. */
  metrics?: Registry;
}

/**
 * Builds the integrator HTTP API as a Fastify instance (not yet listening). All I/O comes in through `deps`,
 * so tests drive it with `inject()` and small in-memory implementations.
 */
export function buildApp(deps: FacadeDeps, options: BuildAppOptions = {}): FastifyInstance {
  const server = httpServerOptions(options.http ?? {});
  const app = Fastify({
    // Fastify hands `https` (not `http`) to https.createServer, so the Node options go in whichever is used.
    ...(options.https ? { https: { ...options.https, ...server.node } } : { http: server.node }),
    ...server.fastify,
    clientErrorHandler,
    loggerInstance: deps.log,
    // Each request's logger adds its request id to its lines without a pino child of its own (boundLogger); a
    // route with its own log options gets a real child.
    childLoggerFactory: (logger, bindings, options) =>
      Object.keys(options).length > 0 ? logger.child(bindings, options) : boundLogger(logger as Logger, bindings),
    logController: new FacadeLogController(),
    bodyLimit: BODY_LIMIT,
    // close() ends idle keep-alive connections at once and lets requests in flight finish, for at most
    // closeTimeoutSeconds (below): then the rest are cut, e.g. a socket whose client went away mid-stream.
    forceCloseConnections: 'idle',
    // Malformed URLs (bad percent-encoding, over-long path segments) get the error shape too, not fastify's
    // default body, which quotes the path.
    frameworkErrors: errorHandler,
    // pino's Logger is a FastifyBaseLogger; the cast keeps the plain FastifyInstance type plugins expect.
  }) as unknown as FastifyInstance;

  app.decorateRequest('queryFacts', null);
  // HALO_STAGE_TRACE_DIR (bench:relay): when each request arrived, for the stage its query is traced at.
  if (stageTraceEnabled) app.addHook('onRequest', async (request) => markArrival(request));
  // First hook otherwise: requests refused by the hooks below are counted too.
  if (options.metrics) recordHttpMetrics(app, options.metrics);
  app.server.maxConnections = server.maxConnections;
  let cutConnections: NodeJS.Timeout | undefined;
  app.addHook('preClose', async () => {
    cutConnections = setTimeout(() => app.server.closeAllConnections(), server.closeTimeoutMs);
  });
  app.addHook('onClose', async () => clearTimeout(cutConnections));
  app.server.on('checkExpectation', expectationFailed);
  // HTTP/1.1 requires Host (RFC 9112 §3.2); Node's check is off so that the answer has the error shape.
  app.addHook('onRequest', async (request, reply) => {
    if (request.raw.httpVersion === '1.1' && request.headers.host === undefined) {
      reply.header('connection', 'close');
      throw new AppError('bad_request', 'the Host header is missing');
    }
  });
  const draining = options.draining ?? (() => false);
  // While draining, a keep-alive connection closes after its answer: the client reconnects to another replica
  // and close() is not held up by idle sockets until their keep-alive timeout.
  app.addHook('onSend', async (_request, reply) => {
    if (draining()) reply.header('connection', 'close');
  });
  shedLoad(app, options.loadShedding ?? {});
  strictJsonBodies(app);

  app.setValidatorCompiler(zodValidatorCompiler);
  app.setSerializerCompiler(jsonSerializerCompiler);
  app.setErrorHandler(errorHandler);
  app.setNotFoundHandler(notFoundHandler);

  // Registered on the root (not inside a plugin) so swagger's onRoute hook sees every route.
  app.register(swagger, swaggerOptions(deps.version));
  app.register(swaggerUi, { routePrefix: '/docs' });
  if (deps.ui) recordUsage(app, deps.ui.usage, deps.log);
  app.register(healthRoutes, { deps, draining });
  // One gate for both /integrator plugins, so a request is counted once against its integrator's rate.
  const gate = integratorGate(deps.auth, deps.rateLimiter);
  app.register(integratorRoutes, { deps, gate, prefix: '/integrator' });
  if (deps.asyncQueries) app.register(asyncQueryRoutes, { deps, gate, store: deps.asyncQueries, prefix: '/integrator' });
  if (deps.registered) app.register(registeredQueryRoutes, { deps, gate, store: deps.registered, prefix: '/integrator' });
  if (deps.support) app.register(supportRoutes, { support: deps.support, prefix: '/support' });
  if (deps.enrolment) app.register(enrolmentRoutes, { enrolment: deps.enrolment });
  if (deps.ui) app.register(browserUis, { ui: deps.ui, auth: deps.auth, directory: deps.directory, ...(deps.support ? { support: deps.support } : {}) });
  return app;
}
