import { LogController, type FastifyReply, type FastifyRequest } from 'fastify';

declare module 'fastify' {
  interface FastifyRequest {
    /**
     * What a query route learned (ids, row count, bytes, timings): it goes in the request's one line, logged as
     * `query finished`, rather than a line of its own. Never query text, parameters or rows.
     */
    queryFacts: Record<string, string | number> | null;
  }
}

/**
 * Fastify's per-request log lines, reduced to ids, status and timing. The defaults print the raw URL (query
 * strings carry practice ids) and whole error objects (whose messages may quote the request).
 */
export class FacadeLogController extends LogController {
  override incomingRequest(request: FastifyRequest): void {
    request.log.debug({ method: request.method, route: request.routeOptions.url ?? null }, 'request received');
  }

  override requestCompleted(error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    const line = { method: request.method, route: request.routeOptions.url ?? null, status: reply.statusCode, ms: Math.round(reply.elapsedTime) };
    const facts = request.queryFacts;
    if (error) reply.log.warn({ ...line, ...facts, error: error.name }, 'request completed with a transport error');
    else if (facts) reply.log.info({ ...line, ...facts }, 'query finished');
    else reply.log.info(line, 'request completed');
  }

  override routeNotFound(): void {
    // The not-found handler's reply is logged by requestCompleted; the default line quotes the URL.
  }

  override defaultErrorLog(): void {
    // Unused: the central error handler logs (codes only) before it answers.
  }
}
