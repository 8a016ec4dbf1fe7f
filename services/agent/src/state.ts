import { randomUUID } from 'node:crypto';
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { Guid } from '@halo/contracts';

/** What the agent keeps across restarts: its Link GUID and a Halo GUID per configured database name. */
export const AgentState = z.object({
  linkGuid: Guid,
  sites: z.record(z.string(), Guid),
});
export type AgentState = z.infer<typeof AgentState>;

const FILE = 'state.json';

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

/** The state directory: created on first start, then the same GUIDs on every start. */
export class StateDirectory {
  readonly dir: string;
  private state: AgentState;

  constructor(dir: string) {
    this.dir = dir;
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    this.state = this.read() ?? { linkGuid: randomUUID(), sites: {} };
    this.save();
  }

  private read(): AgentState | null {
    let text: string;
    try {
      text = readFileSync(join(this.dir, FILE), 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
    const parsed = AgentState.safeParse(JSON.parse(text));
    // A corrupt state file must not silently mint new GUIDs (that would move the practice's sites).
    if (!parsed.success) throw new Error(`the agent state file ${join(this.dir, FILE)} is corrupt; restore it or remove it to re-register`);
    return parsed.data;
  }

  private save(): void {
    writeFileAtomic(join(this.dir, FILE), `${JSON.stringify(this.state, null, 2)}\n`);
  }

  get linkGuid(): string {
    return this.state.linkGuid;
  }

  /** The Halo GUID of a configured database, minted and saved on first sight. */
  haloGuid(databaseName: string): string {
    const existing = this.state.sites[databaseName];
    if (existing) return existing;
    const guid = randomUUID();
    this.state = { ...this.state, sites: { ...this.state.sites, [databaseName]: guid } };
    this.save();
    return guid;
  }
}
