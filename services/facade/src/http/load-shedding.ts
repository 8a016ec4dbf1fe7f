import type { FastifyInstance, FastifyRequest } from 'fastify';
import underPressure from '@fastify/under-pressure';
import { AppError } from '@halo/contracts';

/** When the facade refuses new requests instead of queueing them without bound (HALO_HTTP_SHED_* settings). */
export interface LoadShedding {
  /** Mean event-loop delay (ms) over a sample above which requests are refused; 0: not checked. */
  maxEventLoopDelayMs: number;
  /** V8 heap in use (bytes) above which requests are refused; 0: not checked. */
  maxHeapUsedBytes: number;
  /** How often the event loop and heap are sampled (ms). */
  sampleIntervalMs: number;
  /** `Retry-After` of a refused request. */
  retryAfterSeconds: number;
}

export const DEFAULT_LOAD_SHEDDING: LoadShedding = {
  maxEventLoopDelayMs: 1000,
  maxHeapUsedBytes: 0,
  sampleIntervalMs: 1000,
  retryAfterSeconds: 5,
};

/** Routes never refused: a load balancer must see an overloaded replica as live (and ready per its dependencies). */
const UNSHED = new Set(['/health', '/health/live', '/health/ready']);

/**
 * `@fastify/under-pressure` on every route but the health ones: while a threshold is exceeded, a request is
 * answered 503 `overloaded` with `Retry-After` in the error envelope before any work is done for it.
 */
export function shedLoad(app: FastifyInstance, given: Partial<LoadShedding>): void {
  const settings = { ...DEFAULT_LOAD_SHEDDING, ...given };
  const overloaded = () => new AppError('overloaded', 'this replica is overloaded; retry shortly', { retryAfterSeconds: settings.retryAfterSeconds });
  app.register(underPressure, {
    maxEventLoopDelay: settings.maxEventLoopDelayMs,
    maxHeapUsedBytes: settings.maxHeapUsedBytes,
    sampleInterval: settings.sampleIntervalMs,
    // Async: the plugin hands a rejection to Fastify's error handler, which writes the envelope.
    pressureHandler: async (request: FastifyRequest) => {
      if (!UNSHED.has(request.routeOptions.url ?? '')) throw overloaded();
    },
  });
}
