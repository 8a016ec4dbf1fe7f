import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from '../http/zod-schema.ts';
import { EnrolRequest, EnrolResult } from '@halo/contracts';
import type { EnrolmentRelay } from '../deps.ts';
import { errorResponses } from '../http/openapi.ts';

/**
 * `POST /enrol`: a new Halo Link presents its one-time token and the public nkey it generated; the registry mints
 * its Link GUID (or takes the one a re-enrolment token was issued for) and answers with it and the link's user
 * JWT. No subscription key: the token is the credential. A body naming another link is refused (403).
 */
export async function enrolmentRoutes(instance: FastifyInstance, options: { enrolment: EnrolmentRelay }): Promise<void> {
  const app = instance.withTypeProvider<ZodTypeProvider>();
  app.post('/enrol', {
    schema: {
      summary: 'Enrol a Halo Link installation (one-time token) and receive its Link GUID and NATS user JWT',
      tags: ['enrolment'],
      body: EnrolRequest,
      response: { 200: EnrolResult, ...errorResponses(400, 401, 403, 503) },
    },
  }, async (request): Promise<EnrolResult> => {
    const body = request.body;
    const result = await options.enrolment.enrol(body);
    // Never the token or the JWT: the link GUID names the event.
    request.log.info({ linkGuid: result.linkGuid, env: result.env }, 'link enrolled');
    return result;
  });
}
