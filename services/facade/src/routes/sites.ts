import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from '../http/zod-schema.ts';
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { AppError, HttpSite, SitesQuery, SitesResponse, resolvePmsType } from '@halo/contracts';
import type { FacadeDeps } from '../deps.ts';
import { assertOnboarded, isOnboarded, principalOf } from '../auth/integrator-access.ts';
import { errorResponses, SUBSCRIPTION_KEY_SECURITY } from '../http/openapi.ts';
import { toHttpSite } from '../http/site-response.ts';

/** `GET /integrator/sites`: the sites registered for a PMS ID, optionally of one PMS type. */
export async function sitesRoutes(instance: FastifyInstance, options: { deps: FacadeDeps }): Promise<void> {
  const app = instance.withTypeProvider<ZodTypeProvider>();
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
    const query = request.query;
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

  app.post('/pair-site', {
    schema: {
      summary: 'Pair with the site whose PMS issued this pairing code',
      description: 'The practice reads a pairing code from its PMS and gives it to the integrator. The code identifies the site; only its hash travels beyond the facade.',
      tags: ['sites'],
      security: SUBSCRIPTION_KEY_SECURITY,
      body: PairSiteBody,
      response: { 200: PairSiteResponse, ...errorResponses(400, 401, 403, 404, 429, 503, 504) },
    },
  }, async (request): Promise<PairSiteResponse> => {
    const { pairingCode } = request.body;
    const principal = principalOf(request);
    if (!deps.directory.pair) throw new AppError('not_found', 'pairing is not available');
    const codeHash = createHash('sha256').update(pairingCode.trim().toUpperCase()).digest('hex');
    // The registry refuses (and records nothing) for a PMS type the integrator is not onboarded for.
    const site = await deps.directory.pair(principal.integratorId, codeHash, principal.pmsTypes ? [...principal.pmsTypes] : undefined);
    // An unknown code and a site of a PMS type the integrator is not onboarded for look different on purpose:
    // the first says nothing about which codes exist.
    if (!site || site.status === 'removed' || site.status === 'uninstalled') throw new AppError('not_found', 'no site issued this pairing code');
    assertOnboarded(principal, site.pmsType);
    request.log.info({ siteId: site.haloGuid }, 'site paired');
    return { site: toHttpSite(site) };
  });
}

/** Body of `POST /integrator/pair-site`. */
export const PairSiteBody = z.object({ pairingCode: z.string().min(4).max(64) }).strict();
export type PairSiteBody = z.infer<typeof PairSiteBody>;
export const PairSiteResponse = z.object({ site: HttpSite });
export type PairSiteResponse = z.infer<typeof PairSiteResponse>;
