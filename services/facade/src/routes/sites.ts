import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from '../http/zod-schema.ts';
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { AppError, Guid, PAIRING_CODE_PMS_TYPES, PairSiteQuery, SiteForIntegrator, SitesQuery, SitesResponse, resolvePmsType } from '@halo/contracts';
import type { FacadeDeps } from '../deps.ts';
import { assertOnboarded, isOnboarded, principalOf } from '../auth/integrator-access.ts';
import { errorResponses, SUBSCRIPTION_KEY_SECURITY } from '../http/openapi.ts';
import { toHttpSite } from '../http/site-response.ts';

const SiteParams = z.object({ siteId: z.string() });
type SiteParams = z.infer<typeof SiteParams>;

const PAIR_DESCRIPTION = 'Pair with a site to enable API access (queries and result reads of an unpaired site are 403 site_not_paired). '
  + 'Where the PMS issues pairing codes the practice reads one from its PMS and gives it to the integrator with its PMS ID: the site '
  + 'must be the one of that PMS ID and PMS whose PMS issued the code (only the code\'s hash travels beyond the facade). Practices of '
  + 'other PMS types pair by PMS ID and PMS alone. Pairing is with the practice\'s authoritative site.';

/** `GET /integrator/sites[/{siteId}]` and pairing (`POST /integrator/pair-site`, deprecated `/integrator/pairSite`). */
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
      pmsType = knownPmsType(query.practiceManagementName);
      assertOnboarded(principal, pmsType);
    }
    // Without a PMS type, sites of types the integrator is not onboarded for are left out rather than refused.
    const sites = (await deps.directory.lookup({ pmsId: query.practiceManagementSiteId, ...(pmsType !== undefined ? { pmsType } : {}) }))
      .filter((site) => isOnboarded(principal, site.pmsType));
    request.log.info({ sites: sites.length }, 'sites looked up');
    return { sites: sites.map(toHttpSite) };
  });

  app.get('/sites/:siteId', {
    schema: {
      summary: 'Get site status',
      description: 'The site with its availability and status: the call to make before querying it.',
      tags: ['sites'],
      security: SUBSCRIPTION_KEY_SECURITY,
      params: SiteParams,
      response: { 200: SiteForIntegrator, ...errorResponses(401, 403, 404, 429, 503, 504) },
    },
  }, async (request): Promise<SiteForIntegrator> => {
    const { siteId } = request.params;
    const site = Guid.safeParse(siteId).success ? await deps.directory.get(siteId) : null;
    if (!site || site.status === 'removed' || site.status === 'uninstalled') throw new AppError('site_not_found', 'site not found');
    assertOnboarded(principalOf(request), site.pmsType);
    return toHttpSite(site);
  });

  const pair = async (request: FastifyRequest<{ Querystring: PairSiteQuery }>): Promise<SiteForIntegrator> => {
    const { practiceManagementSiteId, practiceManagementName, pairingCode } = request.query;
    const principal = principalOf(request);
    const pmsType = knownPmsType(practiceManagementName);
    assertOnboarded(principal, pmsType);
    if (!deps.directory.pair) throw new AppError('not_found', 'pairing is not available');
    // The code only where the PMS profile issues codes (PAIRING_CODE_PMS_TYPES); the registry checks it too.
    if (pairingCode === undefined && PAIRING_CODE_PMS_TYPES.includes(pmsType)) throw new AppError('bad_request', 'pairingCode is required for this practice management system');
    const codeHash = pairingCode === undefined ? undefined : createHash('sha256').update(pairingCode.trim().toUpperCase()).digest('hex');
    // The registry records nothing for a code of another practice, or a PMS type the integrator is not onboarded for.
    const practice = { pmsType, pmsId: practiceManagementSiteId, ...(codeHash !== undefined ? { codeHash } : {}) };
    const site = await deps.directory.pair(principal.integratorId, practice, principal.pmsTypes ? [...principal.pmsTypes] : undefined);
    // An unknown code, or one of another practice, says nothing about which codes exist.
    if (!site || site.status === 'removed' || site.status === 'uninstalled') {
      throw new AppError('not_found', codeHash === undefined ? 'no site of this PMS ID' : 'no site of this PMS ID issued this pairing code');
    }
    request.log.info({ siteId: site.haloGuid }, 'site paired');
    return toHttpSite(site);
  };
  const pairSchema = (summary: string, deprecated: boolean) => ({
    summary,
    description: PAIR_DESCRIPTION,
    tags: ['sites'],
    deprecated,
    security: SUBSCRIPTION_KEY_SECURITY,
    querystring: PairSiteQuery,
    response: { 200: SiteForIntegrator, ...errorResponses(400, 401, 403, 404, 429, 503, 504) },
  });
  app.post('/pair-site', { schema: pairSchema('Pair with a site', false) }, pair);
  app.post('/pairSite', { schema: pairSchema('Pair with a site (deprecated: use /integrator/pair-site)', true) }, pair);
}

/** Our PMS type code of a practiceManagementName (Halo's names, our display names and codes); 400 when unknown. */
function knownPmsType(name: string): string {
  const pmsType = resolvePmsType(name);
  if (pmsType === undefined) throw new AppError('bad_request', 'practiceManagementName is not a known practice management system');
  return pmsType;
}
