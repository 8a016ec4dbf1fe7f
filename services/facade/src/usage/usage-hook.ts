import type { FastifyInstance, FastifyRequest } from 'fastify';
import { isAppError } from '@halo/contracts';
import type { Logger } from '@halo/log';
import { principalOf } from '../auth/integrator-access.ts';
import type { UsageStore } from './usage-store.ts';

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by a query route once it has minted the query id, so its usage entry names the query. */
    usageQueryId: string;
  }
}

const codes = new WeakMap<object, string>();

/** The integrator the gate admitted, or undefined (refused before: unknown key). */
function integratorOf(request: FastifyRequest): string | undefined {
  try {
    return principalOf(request).integratorId;
  } catch {
    return undefined;
  }
}

/**
 * Records one usage entry per `/integrator/*` answer of a known integrator (rate-limited ones too) into the shared
 * store, after the answer went out: a slow or failed write never delays or fails the request. Only metadata: the
 * route, site, mode, status, error code, duration and size; never the body.
 */
export function recordUsage(app: FastifyInstance, store: UsageStore, log: Logger): void {
  app.decorateRequest('usageQueryId', '');
  app.addHook('onError', async (request, _reply, error) => {
    if (isAppError(error)) codes.set(request, error.code);
  });
  app.addHook('onResponse', async (request, reply) => {
    if (!request.url.startsWith('/integrator/')) return;
    const integratorId = integratorOf(request);
    if (integratorId === undefined) return;
    const params = request.params as { siteId?: unknown } | undefined;
    const body = request.body as { command?: { executionMode?: unknown } } | undefined;
    const mode = body?.command?.executionMode;
    const length = Number(reply.getHeader('content-length'));
    const code = codes.get(request);
    store.record({
      at: Date.now(),
      integratorId,
      route: `${request.method} ${request.routeOptions.url ?? 'unknown'}`,
      status: reply.statusCode,
      durationMs: Math.round(reply.elapsedTime * 10) / 10,
      bytes: Number.isFinite(length) ? length : 0,
      ...(typeof params?.siteId === 'string' ? { siteId: params.siteId } : {}),
      ...(request.usageQueryId ? { queryId: request.usageQueryId } : {}),
      ...(typeof mode === 'string' ? { mode } : {}),
      ...(code !== undefined ? { errorCode: code } : {}),
    }).catch((err: unknown) => log.warn({ err: err instanceof Error ? err.name : typeof err }, 'usage entry not recorded'));
  });
}
