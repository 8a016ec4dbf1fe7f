import { createHash } from 'node:crypto';
import { AppError, type Catalogue, type QueryRequest, type SiteRegistration } from '@halo/contracts';
import { getProfile, openConnector, openSqliteTrustedReader, type PmsProfile, type Connector, type QueryInput, type ResultSummary } from '@halo/pms';
import type { ChunkSender } from '@halo/messaging';
import { connectorConfig, type DatabaseEntry } from './config.ts';
import { Slots } from './slots.ts';
import { traceStage } from '@halo/log';

/** Queue limits the agent applies whatever a request asks. */
export interface QueueLimits {
  immediateMs: number;
  asyncMs: number;
}

/** One PMS database served as one Halo GUID: its identity, a small connector pool and its query slots. */
export class Site {
  readonly haloGuid: string;
  readonly entry: DatabaseEntry;
  readonly registration: SiteRegistration;
  /** SHA-256 of the pairing codes the PMS issues for the integration; the codes never leave the practice. */
  pairingCodeHashes: string[] = [];
  private readonly slots: Slots;
  private readonly idle: Connector[];
  private readonly busy = new Set<Connector>();
  private readonly profile: PmsProfile;
  /** The PMS's own "is the integration enabled" answer, re-read at most every `integrationCheckSeconds`. */
  private enabled: { value: boolean; at: number } | undefined;
  private closed = false;

  private constructor(haloGuid: string, entry: DatabaseEntry, registration: SiteRegistration, first: Connector, profile: PmsProfile) {
    this.haloGuid = haloGuid;
    this.entry = entry;
    this.registration = registration;
    this.profile = profile;
    this.slots = new Slots(entry.maxConcurrency);
    this.idle = [first];
  }

  /** Opens the database and reads who the practice is through its PMS profile. */
  static async open(haloGuid: string, entry: DatabaseEntry): Promise<Site> {
    const profile = getProfile(entry.profile, entry.engine === 'mssql' ? entry.profileOptions : undefined);
    const config = connectorConfig(entry);
    const connector = await openConnector(config);
    // The profile's own fixed queries read SQLite in-process, so opening a site starts no worker process.
    const reader = config.engine === 'sqlite' ? openSqliteTrustedReader(config) : connector;
    try {
      const identity = await profile.readIdentity(reader);
      const catalogues: Catalogue[] = await profile.catalogues(reader);
      // Pairing is optional: a PMS (or an older sample database) without pairing codes is served all the same.
      const codes = profile.pairingCodes ? await profile.pairingCodes(reader).catch(() => []) : [];
      const site = new Site(haloGuid, entry, {
        haloGuid,
        pmsType: profile.pmsType,
        pmsId: identity.pmsId,
        practiceName: identity.practiceName,
        ...(identity.practiceManagementVersion ? { practiceManagementVersion: identity.practiceManagementVersion } : {}),
        databaseIdentity: connector.identity(),
        catalogues,
      }, connector, profile);
      site.pairingCodeHashes = codes.slice(0, 16).map((code) => createHash('sha256').update(code.trim().toUpperCase()).digest('hex'));
      return site;
    } catch (err) {
      await connector.close();
      throw err;
    } finally {
      if (reader !== connector) await reader.close();
    }
  }

  get load(): { inFlight: number; queued: number } {
    return { inFlight: this.slots.inFlight, queued: this.slots.queued };
  }

  /** Refusals that need no database: checked before the query takes a place in the queue. */
  check(request: QueryRequest): void {
    const { command } = request;
    if (command.executionMode === 'nonQuery' && !this.entry.allowWrites) throw new AppError('writes_disabled', 'this site does not allow writes');
    if (command.type === 'storedProcedure') this.checkProcedure();
    const directed = command.parameters.find((p) => p.direction !== 'input');
    // output, inputOutput and returnValue only have a meaning for a stored procedure call.
    if (directed && command.type !== 'storedProcedure') throw new AppError('bad_request', `parameter direction ${directed.direction} needs command type storedProcedure`);
    if (request.catalogue !== undefined && !this.registration.catalogues.some((c) => c.name === request.catalogue)) {
      throw new AppError('bad_request', 'unknown catalogue for this site');
    }
  }

  /**
   * What each engine can call: SQLite has no procedures. SQL Server has no read-only transaction that would stop
   * a procedure writing, so there a call is a write; PostgreSQL and MariaDB run it in their READ ONLY one.
   */
  private checkProcedure(): void {
    const { engine, allowWrites } = this.entry;
    if (engine === 'sqlite') throw new AppError('procedures_not_supported', 'SQLite has no stored procedures: send the statement as command type text');
    if (engine === 'mssql' && !allowWrites) throw new AppError('writes_disabled', 'a stored procedure may write, and this site does not allow writes');
  }

  /**
   * Runs one query under the site's limits and streams its result through `sender`: waits for a slot
   * (immediate before async), runs with the execution deadline, and stops the statement when the sender's
   * signal aborts (cancel, stalled requester, deadline, a site limit).
   */
  async execute(request: QueryRequest, receivedAt: number, sender: ChunkSender, queue: QueueLimits): Promise<ResultSummary> {
    this.check(request);
    const maxQueueMs = request.mode === 'immediate' ? queue.immediateMs : queue.asyncMs;
    const queueDeadline = Math.min(receivedAt + Math.min(request.maxTimeInQueueMs, maxQueueMs), request.deadline);
    const release = await this.slots.acquire(request.mode, queueDeadline, sender.signal);
    const started = Date.now();
    const executionDeadline = Math.min(request.deadline, started + this.entry.executionTimeoutSeconds * 1000);
    let connector: Connector | undefined;
    let cursor: { cancel(reason?: unknown): Promise<void> } | undefined;
    try {
      if (this.closed) throw new AppError('site_offline', 'the agent is stopping');
      connector = this.idle.pop() ?? (await openConnector(connectorConfig(this.entry)));
      this.busy.add(connector);
      await this.checkEnabled(connector);
      const input: QueryInput = {
        text: request.command.text,
        parameters: request.command.parameters,
        executionMode: request.command.executionMode,
        commandType: request.command.type,
        deadline: executionDeadline,
        signal: sender.signal,
        // An immediate JSON answer is taken whole: its columns may come with its rows.
        whole: request.mode === 'immediate' && sender.rowFormat === 'json',
      };
      // Encoded next to the database in the requester's format, rows pass through here as text; an older
      // requester gets cells.
      const format = sender.rowFormat;
      traceStage('agent.started', request.queryId);
      let summary: ResultSummary;
      if (format === undefined) {
        const cells = await connector.stream(input);
        cursor = cells;
        await sender.meta(cells.columns);
        for await (const batch of cells) await sender.rows(batch);
        summary = cells.summary();
      } else {
        const encoded = await connector.streamEncoded(input, format);
        traceStage('agent.columns', request.queryId);
        cursor = encoded;
        await sender.meta(encoded.columns);
        for await (const batch of encoded) await sender.encoded(batch);
        summary = encoded.summary();
      }
      await sender.end({ timings: { queuedMs: started - receivedAt, executionMs: summary.executionMs }, ...(summary.affected !== undefined ? { affected: summary.affected } : {}), ...(summary.parameters ? { parameters: summary.parameters } : {}) });
      traceStage('agent.sent', request.queryId);
      return summary;
    } catch (err) {
      await cursor?.cancel().catch(() => undefined);
      // The sender's reason (cancel, limit, stalled requester) explains a stop better than the cursor's echo of it.
      const reason: unknown = sender.signal.aborted ? sender.signal.reason : err;
      if (isCode(reason, 'deadline_exceeded') && Date.now() >= executionDeadline && executionDeadline < request.deadline) {
        throw new AppError('execution_timeout', `the statement ran longer than this site allows (${this.entry.executionTimeoutSeconds} s)`);
      }
      throw reason;
    } finally {
      if (connector) {
        this.busy.delete(connector);
        if (this.closed) await connector.close().catch(() => undefined);
        else this.idle.push(connector);
      }
      release();
    }
  }

  /** Refuses queries while the practice has the integration switched off in the PMS itself (ARCHITECTURE §7). */
  private async checkEnabled(connector: Connector): Promise<void> {
    const maxAgeMs = this.entry.integrationCheckSeconds * 1000;
    if (!this.enabled || Date.now() - this.enabled.at >= maxAgeMs) {
      this.enabled = { value: await this.profile.integrationEnabled(connector), at: Date.now() };
    }
    if (!this.enabled.value) throw new AppError('integration_disabled', 'the practice has not enabled this integration in its PMS');
  }

  async close(): Promise<void> {
    this.closed = true;
    const all = [...this.idle.splice(0), ...this.busy];
    await Promise.all(all.map((c) => c.close().catch(() => undefined)));
  }
}

function isCode(err: unknown, code: string): boolean {
  return err instanceof AppError && err.code === code;
}
