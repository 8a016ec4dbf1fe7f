import type { Cell, ColumnInfo, QueryParameter } from '@halo/contracts';
import { openSqliteConnector } from './sqlite-connector.ts';

/** One statement to run, with the limits it must respect. */
export interface QueryInput {
  text: string;
  /** Values are strings or null, converted by their SqlDbType. */
  parameters: readonly QueryParameter[];
  executionMode: 'reader' | 'scalar' | 'nonQuery';
  /** Epoch ms; the statement must be stopped when it passes. */
  deadline: number;
  /** Abort = cancel the running (or queued) statement. */
  signal?: AbortSignal;
  /** More rows than this -> AppError('result_too_large'). */
  maxRows?: number;
  /** More UTF-8 bytes of JSON-serialised rows than this -> AppError('result_too_large'). */
  maxBytes?: number;
}

/** A whole result; cells are JSON-safe. */
export interface QueryOutput {
  columns: ColumnInfo[];
  /** JSON-safe: bigint -> number when safe else string, binary -> base64, dates -> ISO strings. */
  rows: Cell[][];
  rowCount: number;
  /** UTF-8 length of JSON.stringify(rows). */
  bytes: number;
  /** Rows changed, for nonQuery. */
  affected?: number;
  executionMs: number;
}

/** What every database engine implements; one statement at a time per connector. */
export interface Connector {
  readonly engine: 'sqlite' | 'postgres' | 'mysql' | 'mssql';
  /** Where the database lives, without credentials, e.g. "sqlite:/abs/path/a.db". */
  identity(): string;
  query(input: QueryInput): Promise<QueryOutput>;
  close(): Promise<void>;
}

/** A SQLite database file; read-only unless allowWrites. */
export type SqliteConfig = { engine: 'sqlite'; path: string; allowWrites?: boolean };

/** How to reach one PMS database (other engines join this union later). */
export type DatabaseConfig = SqliteConfig;

/** Opens a connector for the configured engine; fails fast if the database cannot be opened. */
export function openConnector(config: DatabaseConfig): Promise<Connector> {
  switch (config.engine) {
    case 'sqlite':
      return openSqliteConnector(config);
  }
}
