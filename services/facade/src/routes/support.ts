import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from '../http/zod-schema.ts';
import {
  AppError, SupportAuditQuery, SupportAuditResult, SupportListResult, SupportMoveBody, SupportMoveResult, SupportPracticesQuery,
  SupportSitesQuery, SupportSitesResponse,
} from '@halo/contracts';
import type { SupportDeps } from '../deps.ts';
import { notFoundHandler } from '../http/error-handler.ts';
import { errorResponses } from '../http/openapi.ts';
import { bearerKey } from '../auth/support-auth.ts';
import { supportLinkRoutes } from './support-links.ts';
import { supportWebhookRoutes } from './support-webhooks.ts';

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the support key check on every `/support/*` request; the "who" of the audit trail. */
    supportUserId: string;
  }
}

/**
 * Everything under `/support` (ARCHITECTURE §6): lists of practices, links and sites with authority,
 * availability, status, version and last seen; authority moves (compare-and-set, reason required, audited);
 * the audit trail. Support keys only (`Authorization: Bearer <key>`), checked before the body is read.
 */
export async function supportRoutes(instance: FastifyInstance, options: { support: SupportDeps }): Promise<void> {
  const app = instance.withTypeProvider<ZodTypeProvider>();
  const { support } = options;
  app.decorateRequest('supportUserId', '');
  app.addHook('onRequest', async (request, reply) => {
    const header = request.headers.authorization;
    const principal = support.auth.authenticate(bearerKey(typeof header === 'string' ? header : undefined));
    if (!principal) {
      reply.header('www-authenticate', 'Bearer realm="halo-support"');
      throw new AppError('unauthorized', 'missing or invalid support key');
    }
    request.supportUserId = principal.supportUserId;
    request.log = request.log.child({ supportUserId: principal.supportUserId });
  });
  app.setNotFoundHandler(notFoundHandler);
  // Enrolment tokens and revocation: children of this plugin, so behind the same support key check.
  await app.register(supportLinkRoutes, { support });
  if (support.webhooks) await app.register(supportWebhookRoutes, { webhooks: support.webhooks, registry: support.registry });

  app.get('/practices', {
    schema: {
      summary: 'Practices with their authoritative site and every site sharing the PMS ID, and the links serving them',
      tags: ['support'],
      querystring: SupportPracticesQuery,
      response: { 200: SupportListResult, ...errorResponses(400, 401, 503) },
    },
  }, async (request): Promise<SupportListResult> => {
    const query = request.query;
    return support.registry.list(query);
  });

  app.get('/sites', {
    schema: {
      summary: 'Every site of a PMS ID with authority, availability, status, version, last seen and clock drift',
      tags: ['support'],
      querystring: SupportSitesQuery,
      response: { 200: SupportSitesResponse, ...errorResponses(400, 401, 503) },
    },
  }, async (request): Promise<SupportSitesResponse> => {
    const query = request.query;
    return { sites: await support.registry.sites(query) };
  });

  app.post('/authority', {
    schema: {
      summary: 'Move authority for a PMS ID to another of its sites (reason required; 409 if it changed meanwhile)',
      tags: ['support'],
      body: SupportMoveBody,
      response: { 200: SupportMoveResult, ...errorResponses(400, 401, 404, 409, 503) },
    },
  }, async (request): Promise<SupportMoveResult> => {
    const body = request.body;
    const result = await support.registry.move({ ...body, by: request.supportUserId });
    request.log.info({ pmsType: body.pmsType, to: body.to, epoch: result.audit.epoch }, 'authority moved');
    return result;
  });

  app.get('/audit', {
    schema: {
      summary: 'The audit trail (newest last): authority moves and site retirements, optionally of one practice',
      tags: ['support'],
      querystring: SupportAuditQuery,
      response: { 200: SupportAuditResult, ...errorResponses(400, 401, 503) },
    },
  }, async (request): Promise<SupportAuditResult> => {
    const query = request.query;
    return support.registry.audit({
      ...(query.pmsId !== undefined ? { pmsId: query.pmsId } : {}),
      ...(query.pmsType !== undefined ? { pmsType: query.pmsType } : {}),
      ...(query.limit !== undefined ? { limit: query.limit } : {}),
    });
  });
}
