import { jetstreamManager, type DirectStreamAPI } from '@nats-io/jetstream';
import type { KV, KvEntry } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import { z } from 'zod';
import { AppError, LinkRecord, PairingCodeHash, PracticeRecord, SiteRecord } from '@halo/contracts';
import { bindBucket, openBucket, retrying, retryJetStream } from '@halo/messaging';

const CodeHashes = z.array(PairingCodeHash);

/** KV bucket names of ARCHITECTURE §5. */
/** Key of KV `pairings` for an integrator and a site (integrator ids may hold characters keys cannot). */
/**
 * KV `pairings` key: an integrator pairs with a practice (the PMS ID and PMS it names in pair-site), so the
 * pairing holds for whichever of the practice's sites is authoritative, also after support moves authority.
 */
export function pairingKey(integratorId: string, practice: { pmsType: string; pmsId: string }): string {
  return `${Buffer.from(integratorId, 'utf8').toString('base64url')}.${practiceKey(practice.pmsType, practice.pmsId)}`;
}

export const BUCKETS = { sites: 'sites', practices: 'practices', links: 'links', practiceSites: 'practice_sites', pairingCodes: 'pairing_codes', pairings: 'pairings' } as const;

/** A PMS ID is vendor text; base64url makes it a safe single KV key (and subject) token. */
export function practiceToken(pmsId: string): string {
  return Buffer.from(pmsId, 'utf8').toString('base64url');
}

export function practiceKey(pmsType: string, pmsId: string): string {
  return `${pmsType}.${practiceToken(pmsId)}`;
}

/** The (PMS type, PMS ID) of a `practices` key. */
export function parsePracticeKey(key: string): { pmsType: string; pmsId: string } {
  const dot = key.indexOf('.');
  return { pmsType: key.slice(0, dot), pmsId: Buffer.from(key.slice(dot + 1), 'base64url').toString('utf8') };
}

/**
 * KV's "wrong last sequence": a compare-and-set lost to another writer. A single server answers 10071; a
 * clustered stream's leader may refuse the proposal with 10164 (same meaning, no sequence in the message).
 */
const WRONG_LAST_SEQUENCE = new Set([10071, 10164]);
function isWrongRevision(err: unknown): boolean {
  return typeof err === 'object' && err !== null && WRONG_LAST_SEQUENCE.has((err as { code?: unknown }).code as number);
}

function parseEntry<S extends z.ZodType>(schema: S, entry: KvEntry | null): { value: z.infer<S>; revision: number } | null {
  if (!entry || entry.operation !== 'PUT') return null;
  const parsed = schema.safeParse(entry.json());
  if (!parsed.success) throw new AppError('internal', `corrupt ${entry.bucket} record`, { cause: parsed.error });
  return { value: parsed.data, revision: entry.revision };
}

/**
 * How long one bucket call retries through a stream leader election by default. An election after a node's death
 * takes seconds (nats-server's election timeout is 4-9 s), longer than a lookup's requester waits, but a
 * registration or heartbeat still lands, and the facade reads the buckets itself meanwhile.
 */
export const REGISTRY_RETRY_BUDGET_MS = 15_000;

/** Typed access to the registry's buckets. */
/**
 * Keys of a bucket under a filter, read by one batched direct get (JetStream `multi_last`) rather than the ordered
 * consumer nats.js `kv.keys()` creates per call. Lookups, pairings and registrations list a practice's or a code's
 * sites on every request; as consumers they came faster than the server reaps them, and past nats-server's
 * per-stream consumer limit a 1,000-site registration failed. Any replica answers a direct get; no consumer is made.
 * Unlike the store's gets (leader reads, see openBucket), a listing may answer as the bucket was a moment before:
 * a site registered that moment can be missing from a lookup or a pairing, as from the same request sent a moment
 * earlier. Nothing that must see its own write lists: authority is claimed by a compare-and-set, and a registration
 * reads its sites and link by get. (cluster-race.test.ts counts the lookups that were behind a write.)
 */
class DirectKeys {
  readonly #direct: DirectStreamAPI;

  constructor(direct: DirectStreamAPI) {
    this.#direct = direct;
  }

  async keys(bucket: string, filter: string): Promise<string[]> {
    const prefix = `$KV.${bucket}.`;
    const out: string[] = [];
    for await (const msg of await this.#direct.getLastMessagesFor(`KV_${bucket}`, { multi_last: [`${prefix}${filter}`] })) {
      const operation = msg.header.get('KV-Operation');
      if (operation !== 'DEL' && operation !== 'PURGE') out.push(msg.subject.slice(prefix.length));
    }
    return out;
  }
}

export class RegistryStore {
  private readonly kv: Record<keyof typeof BUCKETS, KV>;
  private readonly direct: DirectKeys;

  private constructor(kv: Record<keyof typeof BUCKETS, KV>, direct: DirectKeys) {
    this.kv = kv;
    this.direct = direct;
  }

  /**
   * Creates the buckets if missing (idempotent across replicas) and opens them. Each call retries leader-election
   * refusals for `retryBudgetMs` (default REGISTRY_RETRY_BUDGET_MS).
   */
  static async open(nc: NatsConnection, replicas: number, options: { retryBudgetMs?: number } = {}): Promise<RegistryStore> {
    return RegistryStore.#each(nc, (name) => openBucket(nc, name, { replicas, history: 5 }), options.retryBudgetMs ?? REGISTRY_RETRY_BUDGET_MS);
  }

  /**
   * Binds to the buckets without creating or checking them (no JetStream API call), for a reader that must answer
   * while no registry replica does (the facade reads the same records through RegistryViews). Reads of a bucket
   * that does not exist fail. Gets go to each stream's leader, as after open.
   */
  static async bind(nc: NatsConnection, options: { retryBudgetMs?: number } = {}): Promise<RegistryStore> {
    return RegistryStore.#each(nc, (name) => bindBucket(nc, name), options.retryBudgetMs ?? REGISTRY_RETRY_BUDGET_MS);
  }

  static async #each(nc: NatsConnection, opener: (name: string) => Promise<KV>, budgetMs: number): Promise<RegistryStore> {
    // During a stream leader election a KV call is refused or times out: it is retried (a compare-and-set only
    // when refused, as a timed-out one may have applied) instead of failing the request at once.
    const open = async (name: string) => retrying(
      await retryJetStream(() => opener(name), { deadline: Date.now() + budgetMs, timeouts: true, starting: true }),
      { budgetMs, unsafe: ['create', 'update'], passThrough: ['watch'] },
    );
    const jsm = await jetstreamManager(nc, { checkAPI: false });
    return new RegistryStore({
      sites: await open(BUCKETS.sites),
      practices: await open(BUCKETS.practices),
      links: await open(BUCKETS.links),
      practiceSites: await open(BUCKETS.practiceSites),
      pairingCodes: await open(BUCKETS.pairingCodes),
      pairings: await open(BUCKETS.pairings),
    }, retrying(new DirectKeys(jsm.direct), { budgetMs }));
  }


  /**
   * Sets the pairing codes (by hash) a site's PMS issues now: `code.<hash>.<haloGuid>` per code, and the site's
   * list under `site.<haloGuid>`, written last so an interrupted update is redone by the next registration.
   */
  async setPairingCodes(haloGuid: string, codeHashes: readonly string[]): Promise<void> {
    const listKey = `site.${haloGuid}`;
    const entry = await this.kv.pairingCodes.get(listKey);
    const before: string[] = entry && entry.operation === 'PUT' ? CodeHashes.parse(entry.json()) : [];
    const wanted = [...new Set(codeHashes)].sort();
    if (before.join() === wanted.join()) return;
    for (const hash of before) if (!wanted.includes(hash)) await this.kv.pairingCodes.delete(`code.${hash}.${haloGuid}`);
    for (const hash of wanted) if (!before.includes(hash)) await this.kv.pairingCodes.put(`code.${hash}.${haloGuid}`, '');
    await this.kv.pairingCodes.put(listKey, JSON.stringify(wanted));
  }

  /** Halo GUIDs of every site whose PMS issues the code (by hash). */
  async pairingCodeSites(codeHash: string): Promise<string[]> {
    return (await this.direct.keys(BUCKETS.pairingCodes, `code.${codeHash}.*`)).map((key) => key.slice(key.lastIndexOf('.') + 1));
  }

  /** Records that an integrator paired with a practice (KV `pairings`: integrator x practice) through one of its sites. */
  async putPairing(integratorId: string, site: { pmsType: string; pmsId: string; haloGuid: string }, at: string): Promise<void> {
    await this.kv.pairings.put(pairingKey(integratorId, site), JSON.stringify({ pairedAt: at, haloGuid: site.haloGuid }));
  }

  async getSite(haloGuid: string) {
    return parseEntry(SiteRecord, await this.kv.sites.get(haloGuid));
  }

  /**
   * Writes the record of a site not registered before, and indexes it, unless another registration created it since
   * it was read: then false, and nothing is written.
   */
  async createSite(haloGuid: string, record: SiteRecord): Promise<boolean> {
    try {
      await this.kv.sites.create(haloGuid, JSON.stringify(SiteRecord.parse(record)));
    } catch (err) {
      if (isWrongRevision(err)) return false;
      throw err;
    }
    await this.kv.practiceSites.put(`${practiceKey(record.pmsType, record.pmsId)}.${haloGuid}`, '');
    return true;
  }

  async putSite(haloGuid: string, record: SiteRecord): Promise<void> {
    await this.kv.sites.put(haloGuid, JSON.stringify(SiteRecord.parse(record)));
    await this.kv.practiceSites.put(`${practiceKey(record.pmsType, record.pmsId)}.${haloGuid}`, '');
  }

  /** Rewrites a site's record whose PMS ID is unchanged (status changes): the practice index stays as it is. */
  async updateSite(haloGuid: string, record: SiteRecord): Promise<void> {
    await this.kv.sites.put(haloGuid, JSON.stringify(SiteRecord.parse(record)));
  }

  /** Removes a site from a practice's index (its PMS ID changed). */
  async unindexSite(pmsType: string, pmsId: string, haloGuid: string): Promise<void> {
    await this.kv.practiceSites.delete(`${practiceKey(pmsType, pmsId)}.${haloGuid}`);
  }

  /** Halo GUIDs of every site registered for a PMS ID, of one PMS type or of any. */
  async sitesOfPractice(pmsId: string, pmsType?: string): Promise<string[]> {
    const filter = `${pmsType ?? '*'}.${Buffer.from(pmsId, 'utf8').toString('base64url')}.*`;
    return (await this.direct.keys(BUCKETS.practiceSites, filter)).map((key) => key.slice(key.lastIndexOf('.') + 1));
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

  /**
   * Replaces a practice record only if it is still at `revision` (compare-and-set): of two simultaneous moves
   * read at the same revision, exactly one is written; the other gets `conflict`.
   */
  async updatePractice(pmsType: string, pmsId: string, record: PracticeRecord, revision: number): Promise<number> {
    try {
      return await this.kv.practices.update(practiceKey(pmsType, pmsId), JSON.stringify(PracticeRecord.parse(record)), revision);
    } catch (err) {
      if (isWrongRevision(err)) throw new AppError('conflict', 'authority changed while this move was being made; look again and retry', { cause: err });
      throw new AppError('registry_unavailable', 'the practice record could not be written', { cause: err });
    }
  }

  /** Every practice key (`<pmsType>.<encoded pmsId>`), optionally of one PMS type or PMS ID. */
  async practiceKeys(filter: { pmsType?: string; pmsId?: string } = {}): Promise<string[]> {
    const out: string[] = [];
    const pattern = `${filter.pmsType ?? '*'}.${filter.pmsId !== undefined ? practiceToken(filter.pmsId) : '*'}`;
    for await (const key of await this.kv.practices.keys(pattern)) out.push(key);
    return out.sort();
  }

  async getPracticeByKey(key: string) {
    return parseEntry(PracticeRecord, await this.kv.practices.get(key));
  }

  /** Every link GUID. */
  async linkGuids(): Promise<string[]> {
    const out: string[] = [];
    for await (const key of await this.kv.links.keys()) out.push(key);
    return out.sort();
  }

  async getLink(linkGuid: string) {
    return parseEntry(LinkRecord, await this.kv.links.get(linkGuid));
  }

  async putLink(linkGuid: string, record: LinkRecord): Promise<void> {
    await this.kv.links.put(linkGuid, JSON.stringify(LinkRecord.parse(record)));
  }

  /** Replaces a link's record only if it is still at `revision`; false when another write came first. */
  async updateLink(linkGuid: string, record: LinkRecord, revision: number): Promise<boolean> {
    try {
      await this.kv.links.update(linkGuid, JSON.stringify(LinkRecord.parse(record)), revision);
      return true;
    } catch (err) {
      if (isWrongRevision(err)) return false;
      throw err;
    }
  }
}
