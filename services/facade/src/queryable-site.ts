import { AppError, Guid, type SiteView } from '@halo/contracts';
import type { SiteDirectory } from './deps.ts';

/** The site if it may be queried (immediate or async): unknown, malformed and retired ids are all "not found". */
export async function queryableSite(directory: SiteDirectory, siteId: string): Promise<SiteView> {
  if (!Guid.safeParse(siteId).success) throw new AppError('site_not_found', 'site not found');
  const site = await directory.get(siteId);
  if (!site || site.status === 'removed' || site.status === 'uninstalled') throw new AppError('site_not_found', 'site not found');
  if (!site.authoritative) {
    throw new AppError('site_not_authoritative', 'site is not authoritative for its practice; query the authoritative site');
  }
  return site;
}
