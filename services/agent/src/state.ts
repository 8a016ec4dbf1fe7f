import { randomUUID } from 'node:crypto';
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { Guid } from '@halo/contracts';
import type { Logger } from '@halo/log';
import { MachineFingerprint, machineFingerprint, type FingerprintSource } from './fingerprint.ts';

/** One configured database: its Halo GUID and where the database was when that GUID was minted. */
export const SiteState = z.object({
  haloGuid: Guid,
  /** The connector's identity (engine, server, database or file); absent until the database was first opened. */
  databaseIdentity: z.string().max(512).optional(),
});
export type SiteState = z.infer<typeof SiteState>;

/**
 * What the agent keeps across restarts: its Link GUID, the machine it is bound to, and a Halo GUID per
 * configured database name. Files written before machine binding (a bare GUID per site, no fingerprint) are read
 * as such and bound to the machine they are found on.
 */
export const AgentState = z.object({
  linkGuid: Guid,
  fingerprint: MachineFingerprint.optional(),
  sites: z.record(z.string(), z.union([SiteState, Guid.transform((haloGuid): SiteState => ({ haloGuid }))])),
});
export type AgentState = z.infer<typeof AgentState>;

const FILE = 'state.json';
/** The state a move replaced, kept for support (which Link and Halo GUIDs this installation came from). */
const PREVIOUS_FILE = 'state.previous.json';

/** Writes a file so that a crash leaves either the old or the new content, never a torn one. */
export function writeFileAtomic(path: string, content: string, mode = 0o600): void {
  const tmp = `${path}.${process.pid}.tmp`;
  const fd = openSync(tmp, 'w', mode);
  try {
    writeSync(fd, content);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
}

export interface StateOptions {
  /** This machine's fingerprint; without one the state is not bound (nor re-bound) to a machine. */
  fingerprint?: MachineFingerprint;
  log?: Logger;
}

/**
 * The state directory: created on first start, then the same GUIDs on every start on the same machine.
 * State found on another machine (restored backup, migration, cloned VM: the machine id differs) gets a new
 * Link GUID and new Halo GUIDs, so the copy registers as new, non-authoritative sites instead of answering
 * queries meant for the original; the replaced state is kept as state.previous.json.
 */
export class StateDirectory {
  readonly dir: string;
  /** The Link GUID the state had before it was found on another machine at this start, if it was. */
  readonly movedFrom: string | undefined;
  private state: AgentState;
  private readonly log: Logger | undefined;

  constructor(dir: string, options: StateOptions = {}) {
    this.dir = dir;
    this.log = options.log;
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const stored = this.read();
    const fingerprint = options.fingerprint;
    if (!stored) {
      this.state = { linkGuid: randomUUID(), ...(fingerprint ? { fingerprint } : {}), sites: {} };
    } else if (fingerprint && stored.state.fingerprint && stored.state.fingerprint.machineId !== fingerprint.machineId) {
      // Written first: a crash before state.json is replaced just repeats the move on the next start.
      writeFileAtomic(join(dir, PREVIOUS_FILE), stored.text);
      this.state = { linkGuid: randomUUID(), fingerprint, sites: {} };
      this.movedFrom = stored.state.linkGuid;
      this.log?.warn(
        { previousLinkGuid: stored.state.linkGuid, linkGuid: this.state.linkGuid, previousSites: Object.keys(stored.state.sites).length },
        'agent state was made on another machine; new link and site GUIDs minted, the sites register non-authoritative',
      );
    } else {
      if (fingerprint && stored.state.fingerprint && stored.state.fingerprint.hostName !== fingerprint.hostName) {
        this.log?.info({ linkGuid: stored.state.linkGuid }, 'host renamed on the same machine; agent state kept');
      }
      // A state without a fingerprint predates machine binding: it is bound to the machine it is found on.
      this.state = fingerprint ? { ...stored.state, fingerprint } : stored.state;
    }
    this.save();
  }

  /** Reads this machine's fingerprint (from the OS unless a source is given), then opens the directory. */
  static async open(dir: string, options: { fingerprintSource?: FingerprintSource | undefined; log?: Logger } = {}): Promise<StateDirectory> {
    const fingerprint = await (options.fingerprintSource ?? machineFingerprint)();
    return new StateDirectory(dir, { fingerprint: MachineFingerprint.parse(fingerprint), ...(options.log ? { log: options.log } : {}) });
  }

  private read(): { state: AgentState; text: string } | null {
    let text: string;
    try {
      text = readFileSync(join(this.dir, FILE), 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    const parsed = AgentState.safeParse(json);
    // A corrupt state file must not silently mint new GUIDs (that would move the practice's sites).
    if (!parsed.success) throw new Error(`the agent state file ${join(this.dir, FILE)} is corrupt; restore it or remove it to re-register`);
    return { state: parsed.data, text };
  }

  private save(): void {
    writeFileAtomic(join(this.dir, FILE), `${JSON.stringify(this.state, null, 2)}\n`);
  }

  get linkGuid(): string {
    return this.state.linkGuid;
  }

  /**
   * Adopts the Link GUID enrolment gave (the registry mints it; a re-enrolment token names the link it was for).
   * Another link than the state's is another installation: the Halo GUIDs of the state's link belong to that link,
   * so the databases get new ones (registered non-authoritative unless support moves authority), and the replaced
   * state is kept as state.previous.json. Before the first enrolment the state has no sites yet: nothing is lost.
   */
  enrolledAs(linkGuid: string): void {
    const current = this.state;
    if (current.linkGuid === linkGuid) return;
    if (Object.keys(current.sites).length > 0) {
      writeFileAtomic(join(this.dir, PREVIOUS_FILE), `${JSON.stringify(current, null, 2)}\n`);
      this.log?.warn(
        { previousLinkGuid: current.linkGuid, linkGuid, previousSites: Object.keys(current.sites).length },
        'enrolled as another link; new site GUIDs minted, the sites register non-authoritative',
      );
    }
    this.state = { linkGuid, ...(current.fingerprint ? { fingerprint: current.fingerprint } : {}), sites: {} };
    this.save();
  }

  /** The machine this state is bound to. */
  get fingerprint(): MachineFingerprint | undefined {
    return this.state.fingerprint;
  }

  /** The Halo GUID of a configured database, minted and saved on first sight. */
  haloGuid(databaseName: string): string {
    const existing = this.state.sites[databaseName];
    if (existing) return existing.haloGuid;
    return this.setSite(databaseName, { haloGuid: randomUUID() });
  }

  /**
   * Records where a configured database lives, once it was opened, and returns the Halo GUID that serves it.
   * The same name pointing at another database (the config now names another server or file) is another site:
   * it gets a new Halo GUID, so the old site's authority does not follow the name.
   */
  bindDatabase(databaseName: string, databaseIdentity: string): string {
    const existing = this.state.sites[databaseName];
    if (!existing) return this.setSite(databaseName, { haloGuid: randomUUID(), databaseIdentity });
    if (existing.databaseIdentity === databaseIdentity) return existing.haloGuid;
    if (existing.databaseIdentity === undefined) return this.setSite(databaseName, { ...existing, databaseIdentity });
    const haloGuid = this.setSite(databaseName, { haloGuid: randomUUID(), databaseIdentity });
    this.log?.warn({ database: databaseName, previousHaloGuid: existing.haloGuid, haloGuid }, 'database identity changed; new halo guid minted');
    return haloGuid;
  }

  private setSite(databaseName: string, site: SiteState): string {
    this.state = { ...this.state, sites: { ...this.state.sites, [databaseName]: site } };
    this.save();
    return site.haloGuid;
  }
}
