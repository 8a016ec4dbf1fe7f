import { Kvm, type KV, type KvEntry } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import type { z } from 'zod';
import { AppError, LinkRecord, PracticeRecord, SiteRecord } from '@halo/contracts';

/** KV bucket names of ARCHITECTURE §5. */
export const BUCKETS = { sites: 'sites', practices: 'practices', links: 'links', practiceSites: 'practice_sites' } as const;

/** A PMS ID is vendor text; base64url makes it a safe single KV key token. */
export function practiceKey(pmsType: string, pmsId: string): string {
  return `${pmsType}.${Buffer.from(pmsId, 'utf8').toString('base64url')}`;
}

function parseEntry<S extends z.ZodType>(schema: S, entry: KvEntry | null): { value: z.infer<S>; revision: number } | null {
  if (!entry || entry.operation !== 'PUT') return null;
  const parsed = schema.safeParse(entry.json());
  if (!parsed.success) throw new AppError('internal', `corrupt ${entry.bucket} record`, { cause: parsed.error });
  return { value: parsed.data, revision: entry.revision };
}

/** Typed access to the registry's buckets. */
export class RegistryStore {
  private readonly kv: Record<keyof typeof BUCKETS, KV>;

  private constructor(kv: Record<keyof typeof BUCKETS, KV>) {
    this.kv = kv;
  }

  /** Creates the buckets if missing (idempotent across replicas) and opens them. */
  static async open(nc: NatsConnection, replicas: number): Promise<RegistryStore> {
    const kvm = new Kvm(nc);
    const open = (name: string) => kvm.create(name, { replicas, history: 5 });
    return new RegistryStore({
      sites: await open(BUCKETS.sites),
      practices: await open(BUCKETS.practices),
      links: await open(BUCKETS.links),
      practiceSites: await open(BUCKETS.practiceSites),
    });
  }

  async getSite(haloGuid: string) {
    return parseEntry(SiteRecord, await this.kv.sites.get(haloGuid));
  }

  async putSite(haloGuid: string, record: SiteRecord): Promise<void> {
    await this.kv.sites.put(haloGuid, JSON.stringify(SiteRecord.parse(record)));
    await this.kv.practiceSites.put(`${practiceKey(record.pmsType, record.pmsId)}.${haloGuid}`, '');
  }

  /** Removes a site from a practice's index (its PMS ID changed). */
  async unindexSite(pmsType: string, pmsId: string, haloGuid: string): Promise<void> {
    await this.kv.practiceSites.delete(`${practiceKey(pmsType, pmsId)}.${haloGuid}`);
  }

  /** Halo GUIDs of every site registered for a PMS ID, of one PMS type or of any. */
  async sitesOfPractice(pmsId: string, pmsType?: string): Promise<string[]> {
    const filter = `${pmsType ?? '*'}.${Buffer.from(pmsId, 'utf8').toString('base64url')}.*`;
    const out: string[] = [];
    for await (const key of await this.kv.practiceSites.keys(filter)) out.push(key.slice(key.lastIndexOf('.') + 1));
    return out;
  }

  async getPractice(pmsType: string, pmsId: string) {
    return parseEntry(PracticeRecord, await this.kv.practices.get(practiceKey(pmsType, pmsId)));
  }

  /**
   * Makes `haloGuid` authoritative if nobody holds the practice yet. KV `create` is atomic on the server,
   * so of any number of racing registrations across replicas exactly one wins.
   */
  async claimPractice(pmsType: string, pmsId: string, haloGuid: string): Promise<boolean> {
    const record: PracticeRecord = { authoritative: haloGuid, epoch: 1, since: new Date().toISOString() };
    try {
      await this.kv.practices.create(practiceKey(pmsType, pmsId), JSON.stringify(record));
      return true;
    } catch (err) {
      const existing = await this.getPractice(pmsType, pmsId);
      if (!existing) throw new AppError('registry_unavailable', 'practice record could not be created', { cause: err });
      return existing.value.authoritative === haloGuid;
    }
  }

  async getLink(linkGuid: string) {
    return parseEntry(LinkRecord, await this.kv.links.get(linkGuid));
  }

  async putLink(linkGuid: string, record: LinkRecord): Promise<void> {
    await this.kv.links.put(linkGuid, JSON.stringify(LinkRecord.parse(record)));
  }
}
