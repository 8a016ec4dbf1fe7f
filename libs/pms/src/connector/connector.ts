import type { Cell, ColumnInfo, EncodedRows, QueryParameter, ResultParameter, RowFormat } from '@halo/contracts';

/** One statement to run, with the limits it must respect. */
export interface QueryInput {
  text: string;
  /** Values are strings or null, converted by their SqlDbType. */
  parameters: readonly QueryParameter[];
  executionMode: 'reader' | 'scalar' | 'nonQuery';
  /** `storedProcedure`: `text` is a procedure's name and the parameters its arguments, in order; default `text`. */
  commandType?: 'text' | 'storedProcedure';
  /** Epoch ms; the statement must be stopped when it passes. */
  deadline: number;
  /** Abort = cancel the running (or queued) statement. */
  signal?: AbortSignal;
  /** More rows than this -> AppError('result_too_large'). */
  maxRows?: number;
  /** More UTF-8 bytes of JSON-serialised rows than this -> AppError('result_too_large'). */
  maxBytes?: number;
  /** One row of more UTF-8 bytes of JSON than this -> AppError('resource_limit_exceeded'); default: the connector's. */
  maxRowBytes?: number;
  /** stream(): a batch closes before its rows' JSON would pass this many bytes (default 64 KiB; one larger row makes a batch alone). */
  batchBytes?: number;
  /** stream(): a batch holds at most this many rows (default 10 000). */
  batchRows?: number;
  /**
   * The caller takes the result whole and needs its columns only with the rows: a connector may then give the
   * cursor once the first batch or the end is there (SQLite: one worker message fewer per query). A caller that
   * shows a query as running once its columns arrive (async queries) leaves this unset.
   */
  whole?: boolean;
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

/** Totals of a result read to the end. */
export interface ResultSummary {
  rowCount: number;
  /** UTF-8 length of JSON.stringify(all rows). */
  bytes: number;
  /** Rows changed, for nonQuery. */
  affected?: number;
  executionMs: number;
  /** A stored procedure's output, inputOutput and returnValue parameters with their values (as strings). */
  parameters?: ResultParameter[];
}

/**
 * A result read batch by batch. The database is read only as fast as batches are pulled (plus a small
 * read-ahead), so results of any size flow with bounded memory. Iteration throws the statement's AppError;
 * leaving it early (break, return()) stops the statement.
 */
export interface ResultCursor extends AsyncIterable<Cell[][]> {
  /** Known once the statement is prepared (before the first row). */
  readonly columns: ColumnInfo[];
  /** Totals; valid after iteration completed normally (throws AppError('internal') before). */
  summary(): ResultSummary;
  /** Stops the statement now and ends iteration with `reason` if it is an AppError, else a cancel error. Idempotent. */
  cancel(reason?: unknown): Promise<void>;
}

/**
 * A result read batch by batch as encoded row text (RowEncoder's format), the bytes that leave the facade: the
 * agent passes them on without parsing a row again. Otherwise as ResultCursor.
 */
export interface EncodedCursor extends AsyncIterable<EncodedRows> {
  readonly columns: ColumnInfo[];
  summary(): ResultSummary;
  cancel(reason?: unknown): Promise<void>;
}

/** What every database engine implements; one statement at a time per connector. */
export interface Connector {
  readonly engine: 'sqlite' | 'postgres' | 'mysql' | 'mssql';
  /** Where the database lives, without credentials, e.g. "sqlite:/abs/path/a.db". */
  identity(): string;
  /** Runs a statement and collects its whole result. */
  query(input: QueryInput): Promise<QueryOutput>;
  /**
   * Starts a statement; resolves once it is prepared, rejecting as query() does for bad SQL, refused writes or
   * bad parameters. The connector runs the next statement only once this cursor is finished or cancelled.
   */
  stream(input: QueryInput): Promise<ResultCursor>;
  /** As stream(), with the rows encoded once, as close to the database as the engine allows (SQLite: in its worker). */
  streamEncoded(input: QueryInput, format: RowFormat): Promise<EncodedCursor>;
  close(): Promise<void>;
}
