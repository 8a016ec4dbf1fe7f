import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { UpdateStatus } from '@halo/contracts';
import { writeFileAtomic } from '../state.ts';

/** Files in the state directory: the agent's proof of health, the updater's status and its switch journal. */
export const UPDATE_FILES = { health: 'health.json', status: 'update-status.json', journal: 'update-journal.json' } as const;

/** What a running agent writes once it is healthy: registered through its leaf and the hub, first heartbeat sent. */
export interface HealthRecord {
  version: string;
  pid: number;
  at: number;
}

/** Called by the agent once registered and its first heartbeat is out: the updater commits a new version on it. */
export function writeHealth(stateDir: string, version: string): void {
  const record: HealthRecord = { version, pid: process.pid, at: Date.now() };
  writeFileAtomic(join(stateDir, UPDATE_FILES.health), `${JSON.stringify(record)}\n`, 0o644);
}

export function readHealth(stateDir: string): HealthRecord | null {
  try {
    return JSON.parse(readFileSync(join(stateDir, UPDATE_FILES.health), 'utf8')) as HealthRecord;
  } catch {
    return null;
  }
}

/** The updater's last outcome, as heartbeats carry it; null before the first check. */
export function readUpdateStatus(stateDir: string): UpdateStatus | null {
  try {
    const parsed = UpdateStatus.safeParse(JSON.parse(readFileSync(join(stateDir, UPDATE_FILES.status), 'utf8')));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}

export function writeUpdateStatus(stateDir: string, status: UpdateStatus): void {
  writeFileAtomic(join(stateDir, UPDATE_FILES.status), `${JSON.stringify(status)}\n`, 0o644);
}
