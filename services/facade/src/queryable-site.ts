import { AppError, Guid, type SiteView } from '@halo/contracts';
import { assertQueryable } from '@halo/registry-data';
import type { Pairings, SiteDirectory } from './deps.ts';

/** The site if it may be queried: a malformed id is "not found" too, without asking the directory. */
export async function queryableSite(directory: SiteDirectory, siteId: string): Promise<SiteView> {
  if (!Guid.safeParse(siteId).success) throw new AppError('site_not_found', 'site not found');
  return assertQueryable(await directory.get(siteId));
}

/** Halo: "all API endpoints require an active pairing". 403 `site_not_paired` unless the integrator paired with the site. */
export async function assertPaired(pairings: Pairings | undefined, integratorId: string, site: { pmsType: string; pmsId: string }): Promise<void> {
  if (pairings && !(await pairings.isPaired(integratorId, site))) {
    throw new AppError('site_not_paired', 'pair with this site first: POST /integrator/pair-site');
  }
}
