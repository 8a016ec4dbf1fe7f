import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { ZodTypeProvider } from '../http/zod-schema.ts';
import { AppError, HealthResponse, HealthUnavailableResponse, HttpError } from '@halo/contracts';
import type { FacadeDeps, HealthReport } from '../deps.ts';
import { errorBody } from '../http/error-handler.ts';

/**
 * `GET /health`, unauthenticated, for load balancers: 200 while this replica can serve queries (NATS connected and
 * the registry or its buckets answering), `degraded` when one of those two is down; else 503 in the error envelope.
 * Each dependency's state is in both.
 */
export async function healthRoutes(instance: FastifyInstance, options: { deps: FacadeDeps; draining: () => boolean }): Promise<void> {
  const app = instance.withTypeProvider<ZodTypeProvider>();
  const { deps, draining } = options;
  app.get('/health', {
    schema: {
      summary: 'Whether this replica can serve queries, and the state of NATS, the registry and JetStream',
      tags: ['health'],
      response: { 200: HealthResponse, 503: HealthUnavailableResponse },
    },
  }, async (_request, reply) => {
    const report = await deps.health();
    const down = unavailableBecause(report);
    if (down) {
      const error = new AppError('service_unavailable', `this replica cannot serve queries: ${down}`);
      const body: HealthUnavailableResponse = { ...errorBody(error), ...report, version: deps.version };
      return reply.code(503).send(body);
    }
    const body: HealthResponse = { status: report.registry === 'ok' && report.jetstream === 'ok' ? 'ok' : 'degraded', ...report, version: deps.version };
    return reply.code(200).send(body);
  });

  // Liveness: the process answers HTTP at all (restart it when not); nothing is probed.
  app.get('/health/live', {
    schema: { summary: 'Whether this replica answers HTTP at all', tags: ['health'], response: { 200: Probe } },
  }, async () => ({ status: 'ok' as const }));

  // Readiness: send it traffic; 503 while draining for shutdown (before it stops accepting) or while this replica's own
  // NATS connection is down. Not for the registry or JetStream: every replica shares them, so a hub node's death
  // (a JetStream leader election, registries reconnecting: seconds) would take every replica out of the load
  // balancer at once and turn a brief degradation into a total outage. /health still reports them.
  app.get('/health/ready', {
    schema: { summary: 'Whether to send this replica requests: its NATS connection is up and it is not shutting down', tags: ['health'], response: { 200: Probe, 503: HttpError } },
  }, async (_request, reply) => {
    const report = draining() ? undefined : await deps.health();
    const down = report === undefined ? 'it is draining for shutdown' : report.nats === 'connected' ? null : `NATS is ${report.nats}`;
    if (down) throw new AppError('service_unavailable', `this replica cannot serve queries: ${down}`);
    return reply.code(200).send({ status: 'ok' });
  });
}

const Probe = z.object({ status: z.literal('ok') });

/** Why queries cannot be served, or null when they can. */
function unavailableBecause(report: HealthReport): string | null {
  if (report.nats !== 'connected') return `NATS is ${report.nats}`;
  if (report.registry !== 'ok' && report.jetstream !== 'ok') return 'neither the registry nor JetStream answers';
  return null;
}
