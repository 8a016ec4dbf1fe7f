import { resolve } from 'node:path';
import Database from 'better-sqlite3';
import { AppError } from '@halo/contracts';
import type { ColumnInfo } from '@halo/contracts';
import { rowBytes, toCell } from '../../connector/cells.ts';
import type { Connector, EncodedCursor, QueryInput, QueryOutput, ResultCursor } from '../../connector/connector.ts';
import { bindParameters } from '../../parameters/convert-parameter.ts';
import { assertReadOnly } from '../../guard/read-only-guard.ts';
import { sqliteError } from './sqlite-errors.ts';

type Handle = InstanceType<typeof Database>;

/** Opens the file read-only in this process; fails as the worker's open does (not_found for a missing file). */
function openReadOnly(path: string): Handle {
  let db: Handle | undefined;
  try {
    db = new Database(path, { readonly: true, fileMustExist: true });
    db.defaultSafeIntegers(true);
    db.pragma('query_only = ON');
    // A missing or non-SQLite file fails here, as it would in the worker process.
    db.prepare('SELECT count(*) FROM sqlite_schema').get();
    return db;
  } catch (error) {
    db?.close();
    throw error instanceof TypeError || (error as { code?: string }).code === 'SQLITE_CANTOPEN'
      ? new AppError('not_found', 'the SQLite database file cannot be opened')
      : sqliteError(error);
  }
}

/** Checks in-process that the file opens as a SQLite database, without keeping it open. */
export function checkSqliteDatabase(path: string): void {
  openReadOnly(path).close();
}

/**
 * Opens a read-only, in-process reader for a PMS profile's own fixed queries (identity, catalogues, pairing
 * codes). They are tiny and trusted, so they skip the worker process that integrator statements need (it
 * exists so a runaway statement can be killed); never hand this reader an integrator's statement.
 */
export function openSqliteTrustedReader(config: { path: string }): Connector {
  return new SqliteTrustedReader(resolve(config.path));
}

class SqliteTrustedReader implements Connector {
  readonly engine = 'sqlite' as const;
  readonly #path: string;
  #db: Handle | undefined;

  constructor(path: string) {
    this.#path = path;
    this.#db = openReadOnly(path);
  }

  identity(): string {
    return `sqlite:${this.#path}`;
  }

  // Synchronous on purpose: a profile query reads a handful of rows from a small table.
  query(input: QueryInput): Promise<QueryOutput> {
    try {
      if (!this.#db) throw new AppError('internal', 'the connector is closed');
      assertReadOnly(input.text, 'sqlite');
      const started = performance.now();
      const statement = this.#db.prepare(input.text).bind(bindParameters(input.parameters));
      const columns: ColumnInfo[] = statement.columns().map((column) => ({ name: column.name, type: column.type ?? 'unknown' }));
      const rows = [];
      let bytes = 0;
      for (const values of statement.raw(true).iterate() as Iterable<unknown[]>) {
        if (input.maxRows !== undefined && rows.length >= input.maxRows) throw new AppError('result_too_large', `more than ${input.maxRows} rows`);
        const row = values.map(toCell);
        bytes += rowBytes(row);
        rows.push(row);
      }
      // As collectResult counts: the brackets and the commas between rows.
      bytes += rows.length === 0 ? 2 : rows.length + 1;
      return Promise.resolve({ columns, rows, rowCount: rows.length, bytes, executionMs: performance.now() - started });
    } catch (error) {
      return Promise.reject(sqliteError(error));
    }
  }

  stream(): Promise<ResultCursor> {
    return Promise.reject(new AppError('internal', 'the trusted SQLite reader does not stream'));
  }

  streamEncoded(): Promise<EncodedCursor> {
    return Promise.reject(new AppError('internal', 'the trusted SQLite reader does not stream'));
  }

  close(): Promise<void> {
    this.#db?.close();
    this.#db = undefined;
    return Promise.resolve();
  }
}
