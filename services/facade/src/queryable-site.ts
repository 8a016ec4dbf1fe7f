import { AppError, Guid, type SiteView } from '@halo/contracts';
import { assertQueryable } from '@halo/registry-data';
import type { SiteDirectory } from './deps.ts';

/** The site if it may be queried: a malformed id is "not found" too, without asking the directory. */
export async function queryableSite(directory: SiteDirectory, siteId: string): Promise<SiteView> {
  if (!Guid.safeParse(siteId).success) throw new AppError('site_not_found', 'site not found');
  return assertQueryable(await directory.get(siteId));
}
