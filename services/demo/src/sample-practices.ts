import { copyFileSync, existsSync, mkdirSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { createSampleDatabase } from '@halo/sample-practice';

/** A sample practice database the demo serves. */
export interface DemoDatabase {
  /** The agent's local name for the database (binds its Halo GUID). */
  name: string;
  path: string;
  pmsId: string;
  practiceName: string;
}

/** The two demo practices; the third database is a backup of the first (same PMS ID). */
export const DEMO_PRACTICES = [
  { name: 'practice-a', pmsId: 'SAMPLE-1001', practiceName: 'Riverside Family Dental' },
  { name: 'practice-b', pmsId: 'SAMPLE-2002', practiceName: 'Harbour View Dental Care' },
] as const;

export interface DemoDatabases {
  practiceA: DemoDatabase;
  practiceB: DemoDatabase;
  /** A copy of practice A's file, served by the second agent. */
  practiceABackup: DemoDatabase;
}

/** Creates the sample databases under `dir` where missing; existing files are kept as they are. */
export function ensureSampleDatabases(dir: string): DemoDatabases {
  mkdirSync(dir, { recursive: true });
  const [a, b] = DEMO_PRACTICES;
  const practiceA = { ...a, path: join(dir, `${a.name}.db`) };
  const practiceB = { ...b, path: join(dir, `${b.name}.db`) };
  for (const practice of [practiceA, practiceB]) {
    if (!existsSync(practice.path)) createSampleDatabase(practice.path, { pmsId: practice.pmsId, practiceName: practice.practiceName });
  }
  const practiceABackup = { ...a, name: `${a.name}-backup`, path: join(dir, `${a.name}-backup.db`) };
  if (!existsSync(practiceABackup.path)) {
    // Copied beside the target and renamed, so an interrupted copy never looks like a backup.
    const temporary = `${practiceABackup.path}.${process.pid}.tmp`;
    copyFileSync(practiceA.path, temporary);
    renameSync(temporary, practiceABackup.path);
  }
  return { practiceA, practiceB, practiceABackup };
}
