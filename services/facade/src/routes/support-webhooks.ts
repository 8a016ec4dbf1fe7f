import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import { z } from 'zod';
import { AppError, SupportWebhookBody, SupportWebhookSet, SupportWebhookView } from '@halo/contracts';
import type { ZodTypeProvider } from '../http/zod-schema.ts';
import type { WebhookAdmin } from '../registered-deps.ts';
import { errorResponses } from '../http/openapi.ts';
import type { SupportRegistry } from '../deps.ts';

/** Integrator ids as the integrators file allows them. */
const IntegratorParams = z.object({ integratorId: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/, 'must be an integrator id') }).strict();

/**
 * Webhooks under `/support` (registered inside supportRoutes, so behind its support key check): one URL per
 * integrator in this facade's environment. PUT answers the signing secret, once; GET never shows it.
 */
export async function supportWebhookRoutes(instance: FastifyInstance, options: { webhooks: WebhookAdmin; registry: SupportRegistry }): Promise<void> {
  const app = instance.withTypeProvider<ZodTypeProvider>();
  const { webhooks, registry } = options;

  app.put('/integrators/:integratorId/webhook', {
    schema: {
      summary: "Set an integrator's webhook URL (HTTPS, public address); answers a new signing secret, shown only this once",
      tags: ['support'],
      params: IntegratorParams,
      body: SupportWebhookBody,
      response: { 200: SupportWebhookSet, ...errorResponses(400, 401, 503) },
    },
  }, async (request): Promise<SupportWebhookSet> => {
    const { integratorId } = request.params;
    const result = await webhooks.set(integratorId, request.body.url, request.supportUserId);
    request.log.info({ integratorId }, 'webhook set');
    await auditWebhookChange(registry, request.log, { integratorId, change: 'set', url: result.url, by: request.supportUserId });
    return result;
  });

  app.get('/integrators/:integratorId/webhook', {
    schema: {
      summary: "An integrator's webhook URL (never its secret)",
      tags: ['support'],
      params: IntegratorParams,
      response: { 200: SupportWebhookView, ...errorResponses(400, 401, 404, 503) },
    },
  }, async (request): Promise<SupportWebhookView> => {
    const found = await webhooks.get(request.params.integratorId);
    if (!found) throw new AppError('not_found', 'the integrator has no webhook');
    return found;
  });

  app.delete('/integrators/:integratorId/webhook', {
    schema: {
      summary: "Remove an integrator's webhook; events not yet delivered are dropped",
      tags: ['support'],
      params: IntegratorParams,
      response: { 204: z.null().describe('Removed'), ...errorResponses(400, 401, 404, 503) },
    },
  }, async (request, reply) => {
    const { integratorId } = request.params;
    if (!(await webhooks.delete(integratorId))) throw new AppError('not_found', 'the integrator has no webhook');
    request.log.info({ integratorId }, 'webhook removed');
    await auditWebhookChange(registry, request.log, { integratorId, change: 'removed', by: request.supportUserId });
    return reply.code(204).send(null);
  });
}

/**
 * Has the registry audit a webhook change after it was made (as key rotations are). The change stands either way:
 * false (and an error log) when the entry could not be written, so the caller can say so.
 */
export async function auditWebhookChange(registry: SupportRegistry, log: FastifyBaseLogger, change: { integratorId: string; change: 'set' | 'removed'; url?: string; by: string }): Promise<boolean> {
  if (!registry.webhookChanged) return false;
  return registry.webhookChanged(change).then(() => true, (err: unknown) => {
    log.error({ integratorId: change.integratorId, err: err instanceof Error ? err.name : typeof err }, 'webhook change not audited');
    return false;
  });
}
