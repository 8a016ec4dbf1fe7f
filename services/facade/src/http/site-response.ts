import type { HttpSite, SiteView } from '@halo/contracts';

/** A registry site as integrators see it (ARCHITECTURE §6): no link GUID, database identity or env. */
export function toHttpSite(site: SiteView): HttpSite {
  return {
    id: site.haloGuid,
    pmsType: site.pmsType,
    availability: site.availability,
    status: site.status,
    haloLinkVersion: site.haloLinkVersion,
    catalogue: site.catalogues.map((c) => ({ name: c.name, isDefault: c.isDefault })),
    practiceMetadata: {
      pmsType: site.pmsType,
      practiceName: site.practiceName,
      practiceManagementSiteId: site.pmsId,
      ...(site.practiceManagementVersion !== undefined ? { practiceManagementVersion: site.practiceManagementVersion } : {}),
    },
    authoritative: site.authoritative,
  };
}
