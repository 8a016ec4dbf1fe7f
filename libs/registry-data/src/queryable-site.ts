import { AppError, type SiteView } from '@halo/contracts';

/**
 * The one rule of whether a site may be queried (immediate or async), for the facade and the worker alike:
 * unknown and retired sites are site_not_found; only the authoritative site of its practice answers.
 */
export function assertQueryable(site: SiteView | null): SiteView {
  if (!site || site.status === 'removed' || site.status === 'uninstalled') throw new AppError('site_not_found', 'site not found');
  if (!site.authoritative) {
    throw new AppError('site_not_authoritative', 'site is not authoritative for its practice; query the authoritative site');
  }
  return site;
}
