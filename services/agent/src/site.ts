import { AppError, type Catalogue, type QueryRequest, type QueryResult, type SiteRegistration } from '@halo/contracts';
import { getProfile, openConnector, type Connector } from '@halo/pms';
import type { DatabaseEntry } from './config.ts';
import { Slots } from './slots.ts';

/** One PMS database served as one Halo GUID: its identity, a small connector pool and its query slots. */
export class Site {
  readonly haloGuid: string;
  readonly entry: DatabaseEntry;
  readonly registration: SiteRegistration;
  private readonly slots: Slots;
  private readonly idle: Connector[];
  private readonly busy = new Set<Connector>();
  private closed = false;

  private constructor(haloGuid: string, entry: DatabaseEntry, registration: SiteRegistration, first: Connector) {
    this.haloGuid = haloGuid;
    this.entry = entry;
    this.registration = registration;
    this.slots = new Slots(entry.maxConcurrency);
    this.idle = [first];
  }

  /** Opens the database and reads who the practice is through its PMS profile. */
  static async open(haloGuid: string, entry: DatabaseEntry): Promise<Site> {
    const profile = getProfile(entry.profile);
    const connector = await openConnector({ engine: entry.engine, path: entry.path, allowWrites: entry.allowWrites });
    try {
      const identity = await profile.readIdentity(connector);
      const catalogues: Catalogue[] = await profile.catalogues(connector);
      return new Site(haloGuid, entry, {
        haloGuid,
        pmsType: profile.pmsType,
        pmsId: identity.pmsId,
        practiceName: identity.practiceName,
        ...(identity.practiceManagementVersion ? { practiceManagementVersion: identity.practiceManagementVersion } : {}),
        databaseIdentity: connector.identity(),
        catalogues,
      }, connector);
    } catch (err) {
      await connector.close();
      throw err;
    }
  }

  get load(): { inFlight: number; queued: number } {
    return { inFlight: this.slots.inFlight, queued: this.slots.queued };
  }

  /** Runs one query under the site's limits; `receivedAt` starts its time in queue. */
  async run(request: QueryRequest, receivedAt: number, maxBytes: number, signal?: AbortSignal): Promise<QueryResult> {
    const { command } = request;
    if (command.executionMode === 'nonQuery' && !this.entry.allowWrites) {
      throw new AppError('writes_disabled', 'this site does not allow writes');
    }
    if (command.type === 'storedProcedure') throw new AppError('bad_request', 'stored procedures are not supported by this engine');
    if (request.catalogue !== undefined && !this.registration.catalogues.some((c) => c.name === request.catalogue)) {
      throw new AppError('bad_request', 'unknown catalogue for this site');
    }
    const queueDeadline = Math.min(receivedAt + request.maxTimeInQueueMs, request.deadline);
    const release = await this.slots.acquire(queueDeadline, signal);
    const started = Date.now();
    let connector: Connector | undefined;
    try {
      if (this.closed) throw new AppError('site_offline', 'the agent is stopping');
      connector = this.idle.pop() ?? (await openConnector({ engine: this.entry.engine, path: this.entry.path, allowWrites: this.entry.allowWrites }));
      this.busy.add(connector);
      const out = await connector.query({
        text: command.text,
        parameters: command.parameters ?? [],
        executionMode: command.executionMode ?? 'reader',
        deadline: request.deadline,
        maxBytes,
        ...(signal ? { signal } : {}),
      });
      return {
        columns: out.columns,
        rows: out.rows,
        rowCount: out.rowCount,
        bytes: out.bytes,
        ...(out.affected !== undefined ? { affected: out.affected } : {}),
        timings: { queuedMs: started - receivedAt, executionMs: out.executionMs },
      };
    } finally {
      if (connector) {
        this.busy.delete(connector);
        if (this.closed) await connector.close().catch(() => undefined);
        else this.idle.push(connector);
      }
      release();
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    const all = [...this.idle.splice(0), ...this.busy];
    await Promise.all(all.map((c) => c.close().catch(() => undefined)));
  }
}
