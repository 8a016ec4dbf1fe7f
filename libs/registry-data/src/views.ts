import type { LinkRecord, SiteView, SupportLink, SupportPractice } from '@halo/contracts';
import { availabilityOf, hasClockDrift, type Thresholds } from './availability.ts';
import { parsePracticeKey, type RegistryStore } from './store.ts';

/** Builds the registry's answers (sites with authority and availability, links, practices) from its buckets. */
export class RegistryViews {
  readonly #store: RegistryStore;
  readonly #thresholds: Thresholds;
  readonly #now: () => number;

  constructor(store: RegistryStore, thresholds: Thresholds, now: () => number) {
    this.#store = store;
    this.#thresholds = thresholds;
    this.#now = now;
  }

  availability(link: LinkRecord | undefined) {
    return availabilityOf(link?.lastSeen, this.#now(), this.#thresholds, link?.stoppedAt);
  }

  /** One site with its authority, availability and the link's clock drift; null when unknown. */
  async site(haloGuid: string): Promise<SiteView | null> {
    const site = await this.#store.getSite(haloGuid);
    if (!site) return null;
    const [practice, link] = await Promise.all([this.#store.getPractice(site.value.pmsType, site.value.pmsId), this.#store.getLink(site.value.linkGuid)]);
    return {
      ...site.value,
      haloGuid,
      authoritative: practice?.value.authoritative === haloGuid,
      availability: this.availability(link?.value),
      ...(link ? { lastSeen: link.value.lastSeen, clockDrift: hasClockDrift(link.value.clockSkewMs, this.#thresholds) } : {}),
    };
  }

  /** Every site registered for a PMS ID: the authoritative one first, then by age. */
  async sitesOf(pmsId: string, pmsType?: string, env?: string): Promise<SiteView[]> {
    const guids = await this.#store.sitesOfPractice(pmsId, pmsType);
    const views = await Promise.all(guids.map((g) => this.site(g)));
    return views
      .filter((v): v is SiteView => v !== null && v.pmsId === pmsId && (pmsType === undefined || v.pmsType === pmsType) && (env === undefined || v.env === env))
      .sort((a, b) => Number(b.authoritative) - Number(a.authoritative) || a.createdAt.localeCompare(b.createdAt));
  }

  async link(linkGuid: string): Promise<SupportLink | null> {
    const link = await this.#store.getLink(linkGuid);
    if (!link) return null;
    const { stoppedAt: _stopped, ...record } = link.value;
    return {
      ...record,
      linkGuid,
      availability: this.availability(link.value),
      clockDrift: hasClockDrift(link.value.clockSkewMs, this.#thresholds),
    };
  }

  async practice(key: string): Promise<SupportPractice | null> {
    const practice = await this.#store.getPracticeByKey(key);
    if (!practice) return null;
    const { pmsType, pmsId } = parsePracticeKey(key);
    return { pmsType, pmsId, ...practice.value, sites: await this.sitesOf(pmsId, pmsType) };
  }
}
