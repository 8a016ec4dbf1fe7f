import type { FastifyInstance } from 'fastify';
import { AppError, SitesQuery, SitesResponse, resolvePmsType } from '@halo/contracts';
import type { FacadeDeps } from '../deps.ts';
import { assertOnboarded, isOnboarded, principalOf } from '../integrator-access.ts';
import { errorResponses, SUBSCRIPTION_KEY_SECURITY } from '../openapi.ts';
import { toHttpSite } from '../site-response.ts';

/** `GET /integrator/sites`: the sites registered for a PMS ID, optionally of one PMS type. */
export async function sitesRoutes(app: FastifyInstance, options: { deps: FacadeDeps }): Promise<void> {
  const { deps } = options;
  app.get('/sites', {
    schema: {
      summary: 'Find sites by practice management site id',
      tags: ['sites'],
      security: SUBSCRIPTION_KEY_SECURITY,
      querystring: SitesQuery,
      response: { 200: SitesResponse, ...errorResponses(400, 401, 403, 429, 503, 504) },
    },
  }, async (request): Promise<SitesResponse> => {
    const query = request.query as SitesQuery;
    const principal = principalOf(request);
    let pmsType: string | undefined;
    if (query.practiceManagementName !== undefined) {
      pmsType = resolvePmsType(query.practiceManagementName);
      if (pmsType === undefined) throw new AppError('bad_request', 'practiceManagementName is not a known practice management system');
      assertOnboarded(principal, pmsType);
    }
    // Without a PMS type, sites of types the integrator is not onboarded for are left out rather than refused.
    const sites = (await deps.directory.lookup({ pmsId: query.practiceManagementSiteId, ...(pmsType !== undefined ? { pmsType } : {}) }))
      .filter((site) => isOnboarded(principal, site.pmsType));
    request.log.info({ sites: sites.length }, 'sites looked up');
    return { sites: sites.map(toHttpSite) };
  });
}
