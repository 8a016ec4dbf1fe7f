import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from '../http/zod-schema.ts';
import { EnrolRequest, EnrolResult } from '@halo/contracts';
import type { EnrolmentRelay } from '../deps.ts';
import { errorResponses } from '../http/openapi.ts';

/**
 * `POST /enrol`: a new Halo Link presents its one-time token, Link GUID and the public nkey it generated; the
 * registry answers with the link's user JWT. No subscription key: the token is the credential.
 */
export async function enrolmentRoutes(instance: FastifyInstance, options: { enrolment: EnrolmentRelay }): Promise<void> {
  const app = instance.withTypeProvider<ZodTypeProvider>();
  app.post('/enrol', {
    schema: {
      summary: 'Enrol a Halo Link installation (one-time token) and receive its NATS user JWT',
      tags: ['enrolment'],
      body: EnrolRequest,
      response: { 200: EnrolResult, ...errorResponses(400, 401, 503) },
    },
  }, async (request): Promise<EnrolResult> => {
    const body = request.body;
    const result = await options.enrolment.enrol(body);
    // Never the token or the JWT: the link GUID names the event.
    request.log.info({ linkGuid: body.linkGuid, env: result.env }, 'link enrolled');
    return result;
  });
}
