import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from '../http/zod-schema.ts';
import { HealthResponse } from '@halo/contracts';
import type { FacadeDeps } from '../deps.ts';

/** `GET /health`, unauthenticated: 200 when NATS is connected, else 503 so load balancers route elsewhere. */
export async function healthRoutes(instance: FastifyInstance, options: { deps: FacadeDeps }): Promise<void> {
  const app = instance.withTypeProvider<ZodTypeProvider>();
  const { deps } = options;
  app.get('/health', {
    schema: { summary: 'Liveness and NATS connectivity', tags: ['health'], response: { 200: HealthResponse, 503: HealthResponse } },
  }, async (_request, reply) => {
    const { nats } = deps.health();
    const body: HealthResponse = { status: nats === 'connected' ? 'ok' : 'degraded', nats, version: deps.version };
    return reply.code(body.status === 'ok' ? 200 : 503).send(body);
  });
}
