import { HALO_PMS_NAMES, HALO_PMS_TYPES, PMS_DISPLAY_NAMES, type SiteForIntegrator, type SiteView } from '@halo/contracts';

/**
 * A registry site as integrators see it: Halo's SiteForIntegrator, with the deprecated top-level fields too
 * (ARCHITECTURE §6); no Link GUID, database identity or environment.
 */
export function toHttpSite(site: SiteView): SiteForIntegrator {
  const pmsType = HALO_PMS_TYPES[site.pmsType] ?? site.pmsType;
  return {
    id: site.haloGuid,
    pmsType,
    availability: site.availability,
    status: site.status,
    haloLinkVersion: site.haloLinkVersion,
    enrichedAt: site.updatedAt,
    catalogue: site.catalogues.map((c) => ({ name: c.name, isDefault: c.isDefault })),
    practiceMetadata: {
      pmsType,
      practiceName: site.practiceName,
      practiceManagementSiteId: site.pmsId,
      ...(site.practiceManagementVersion !== undefined ? { practiceManagementVersion: site.practiceManagementVersion } : {}),
    },
    name: site.practiceName,
    practiceManagementSiteId: site.pmsId,
    practiceManagementName: HALO_PMS_NAMES[site.pmsType] ?? PMS_DISPLAY_NAMES[site.pmsType] ?? site.pmsType,
    ...(site.practiceManagementVersion !== undefined ? { practiceManagementVersion: site.practiceManagementVersion } : {}),
    createdAt: site.createdAt,
    authoritative: site.authoritative,
    ...(site.lastSeen !== undefined ? { clientTimestampUTC: site.lastSeen, heartbeatTimestampUTC: site.lastSeen } : {}),
  };
}
