// Shared test setup: temp directories removed after each test, sample databases, parameter shorthand.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import type { QueryParameter, SqlDbType } from '@halo/contracts';
import { openConnector } from '@halo/pms';
import { createSampleDatabase } from '@halo/sample-practice';
import type { Connector, QueryInput } from '@halo/pms';

/** A fresh temp directory, removed when the test ends. */
export function tempDir(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'halo-pms-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A small sample database in a temp directory. */
export function sampleFile(t: TestContext, patients = 200): string {
  const path = join(tempDir(t), 'practice.db');
  createSampleDatabase(path, { pmsId: 'PMS-1001', practiceName: 'Bright Smiles Dental', patients });
  return path;
}

/** A connector on a fresh sample database, closed when the test ends. */
export async function sampleConnector(t: TestContext, options: { allowWrites?: boolean; patients?: number } = {}): Promise<{ connector: Connector; path: string }> {
  const path = sampleFile(t, options.patients);
  const connector = await openConnector({ engine: 'sqlite', path, allowWrites: options.allowWrites });
  t.after(() => connector.close());
  // The worker process starts with the first statement: start it here, so tests time and count only their own.
  await connector.query(reader('SELECT 1'));
  return { connector, path };
}

/** A query parameter. */
export function param(name: string, type: SqlDbType, value: string | null): QueryParameter {
  return { name, direction: 'input', type, value };
}

/** A reader query with a generous deadline unless overridden. */
export function reader(text: string, overrides: Partial<QueryInput> = {}): QueryInput {
  return { text, parameters: [], executionMode: 'reader', deadline: Date.now() + 10_000, ...overrides };
}

/** A statement that keeps SQLite busy inside one step for minutes. */
export const ENDLESS_COUNT =
  'WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 1000000000) SELECT count(*) FROM c';
