import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Counter, Gauge, Histogram, type Registry } from '@halo/metrics';
import { isErrorCode } from '@halo/contracts';

/** Latency buckets (seconds): from a cached site lookup to a long immediate query. */
const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/** The route label of a request that matched no route: never its URL (a path can carry a PMS ID). */
const UNMATCHED = '(unmatched)';

/**
 * Per-request series, recorded from Fastify hooks so no route handler changes: requests by route template,
 * method, status and error code; latency; bytes written to the client (streamed rows included); requests in flight.
 * Labels are route templates (`/integrator/sites/:haloGuid/query`), never URLs, and error codes from the fixed
 * list of libs/contracts: no query text, parameter or row can reach a label or a value.
 */
export function recordHttpMetrics(app: FastifyInstance, registry: Registry): void {
  const registers = [registry];
  const requests = new Counter({ name: 'halo_http_requests_total', help: 'HTTP requests answered, by route template, method, status and error code (empty on success)', labelNames: ['route', 'method', 'status', 'code'], registers });
  const latency = new Histogram({ name: 'halo_http_request_duration_seconds', help: 'Time from a request arriving to its answer being fully written (streams included)', labelNames: ['route', 'method', 'status'], buckets: LATENCY_BUCKETS, registers });
  const bytes = new Counter({ name: 'halo_http_response_bytes_total', help: 'Bytes written to clients (headers and bodies, streamed rows included), by route template', labelNames: ['route'], registers });
  const inFlight = new Gauge({ name: 'halo_http_requests_in_flight', help: 'Requests received and not yet fully answered, by route template', labelNames: ['route'], registers });
  const codes = new WeakMap<FastifyRequest, string>();

  app.addHook('onRequest', async (request, reply) => {
    const route = request.routeOptions.url ?? UNMATCHED;
    const method = request.method;
    const started = process.hrtime.bigint();
    // No socket under inject(): no bytes are counted then.
    const socket = request.raw.socket as typeof request.raw.socket | undefined;
    const written = socket?.bytesWritten ?? 0;
    inFlight.inc({ route });
    // 'close' fires for every response, finished or cut off (a client gone mid-stream): onResponse does not.
    reply.raw.once('close', () => {
      inFlight.dec({ route });
      const status = reply.raw.writableFinished ? String(reply.raw.statusCode) : 'aborted';
      requests.inc({ route, method, status, code: codes.get(request) ?? '' });
      latency.observe({ route, method, status }, Number(process.hrtime.bigint() - started) / 1e9);
      // Keep-alive requests on one socket are answered one after another, so the difference is this answer's.
      bytes.inc({ route }, Math.max(0, (socket?.bytesWritten ?? 0) - written));
    });
  });
  // The envelope's code, read back from the serialised error body; only codes of the fixed list become labels.
  app.addHook('onSend', async (request, reply, payload) => {
    if (reply.statusCode >= 400 && typeof payload === 'string') {
      const code = errorCodeOf(payload);
      if (code) codes.set(request, code);
    }
    return payload;
  });
}

function errorCodeOf(body: string): string | null {
  try {
    const code = (JSON.parse(body) as { error?: { code?: unknown } }).error?.code;
    return isErrorCode(code) ? code : null;
  } catch {
    return null;
  }
}
