import { z } from 'zod';
import { AppError } from '@halo/contracts';
import type { Catalogue } from '@halo/contracts';
import type { Connector } from '../connector/connector.ts';

const PROFILE_QUERY_MS = 15_000;
const NameRow = z.tuple([z.string().min(1).max(128)]);

// The statement naming the database a connection is in, per server engine.
const CURRENT_DATABASE: Readonly<Record<string, string>> = {
  postgres: 'SELECT current_database()',
  mysql: 'SELECT DATABASE()',
  mssql: 'SELECT DB_NAME()',
};

/**
 * The one catalogue a connector's database offers: "main" for a SQLite file (attached databases are not
 * offered), else the database the connection is in, as the server names it.
 */
export async function defaultCatalogue(connector: Connector, profile: string): Promise<Catalogue[]> {
  if (connector.engine === 'sqlite') return [{ name: 'main', isDefault: true }];
  const text = CURRENT_DATABASE[connector.engine];
  if (text === undefined) throw new AppError('bad_request', `${profile} profile: engine ${connector.engine} is not supported`);
  const result = await connector.query({ text, parameters: [], executionMode: 'reader', deadline: Date.now() + PROFILE_QUERY_MS, maxRows: 1 });
  const parsed = NameRow.safeParse(result.rows[0]);
  if (!parsed.success) throw new AppError('query_failed', `${profile} profile: the server did not name its database`);
  return [{ name: parsed.data[0], isDefault: true }];
}
