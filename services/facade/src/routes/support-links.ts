import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from '../http/zod-schema.ts';
import { z } from 'zod';
import {
  AppError, Guid, SupportEnrolmentTokenBody, SupportEnrolmentTokenResult, SupportRevokeBody, SupportRevokeResult,
} from '@halo/contracts';
import type { SupportDeps } from '../deps.ts';
import { errorResponses } from '../http/openapi.ts';

const LinkParams = z.object({ linkGuid: Guid }).strict();

/**
 * Link credentials under `/support` (registered inside supportRoutes, so behind its support key check):
 * one-time enrolment tokens for this facade's environment, and revocation of a link's credentials.
 */
export async function supportLinkRoutes(instance: FastifyInstance, options: { support: SupportDeps }): Promise<void> {
  const app = instance.withTypeProvider<ZodTypeProvider>();
  const { registry } = options.support;

  app.post('/enrolment-tokens', {
    schema: {
      summary: 'Issue a one-time, expiring enrolment token for a new Halo Link installation (this environment only)',
      tags: ['support'],
      body: SupportEnrolmentTokenBody,
      response: { 200: SupportEnrolmentTokenResult, ...errorResponses(400, 401, 503) },
    },
  }, async (request): Promise<SupportEnrolmentTokenResult> => {
    if (!registry.enrolmentToken) throw new AppError('registry_unavailable', 'enrolment is not enabled');
    const body = request.body ?? {};
    const result = await registry.enrolmentToken({ ...body, by: request.supportUserId });
    request.log.info({ env: result.env, expiresAt: result.expiresAt }, 'enrolment token issued');
    return result;
  });

  app.post('/links/:linkGuid/revoke', {
    schema: {
      summary: "Revoke a link's NATS credentials: its leaf is disconnected at once and refused until it enrols again",
      tags: ['support'],
      params: LinkParams,
      body: SupportRevokeBody,
      response: { 200: SupportRevokeResult, ...errorResponses(400, 401, 404, 409, 503) },
    },
  }, async (request): Promise<SupportRevokeResult> => {
    if (!registry.revoke) throw new AppError('registry_unavailable', 'revocation is not enabled');
    const { linkGuid } = request.params;
    const body = request.body;
    const result = await registry.revoke({ linkGuid, reason: body.reason, by: request.supportUserId });
    request.log.info({ linkGuid, keys: result.revokedKeys.length }, 'link revoked');
    return result;
  });
}
