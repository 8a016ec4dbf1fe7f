/**
 * Worker process of the SQLite connector: owns the better-sqlite3 handle, runs one statement at a time and
 * posts rows in batches. It is a child process rather than a worker thread because a statement busy inside
 * one sqlite3_step() (an aggregate over a huge CTE, say) never returns to JavaScript, so Worker.terminate()
 * cannot stop it, and better-sqlite3 exposes no sqlite3_interrupt(); killing a process always stops it.
 */
import Database from 'better-sqlite3';
// Narrow imports: the worker starts on a site's first statement, and the whole contracts package (zod and all)
// would triple its start-up time.
import { AppError } from '@halo/contracts/errors';
import { RowEncoder } from '@halo/contracts/row-encoding';
import type { Cell, ColumnInfo } from '@halo/contracts';
import { rawBytes, rowBytes, toCell } from '../../connector/cells.ts';
import { leadingKeyword } from './leading-keyword.ts';
import { rowLimitError } from '../../connector/resource-limits.ts';
import { sqliteError } from './sqlite-errors.ts';
import { startMemoryWatchdog } from './sqlite-memory-watchdog.ts';
import type { MemoryWatchdog } from './sqlite-memory-watchdog.ts';
import type { Batch, WorkerEvent, WorkerRequest } from './sqlite-protocol.ts';

type QueryRequest = Extract<WorkerRequest, { type: 'query' }>;
type Statement = Database.Statement<unknown[], unknown>;

/** The statement being run: the credit the parent granted, and whether it asked to stop. */
interface Active {
  id: number;
  credit: number;
  stopped: boolean;
  wake: (() => void) | undefined;
}

let db: Database.Database | undefined;
let allowWrites = false;
let queryOnly: Database.Statement<[], unknown> | undefined;
let active: Active | undefined;
/**
 * Compiled statements by text, least recently used first: integrators send the same statements again and again
 * with new values, and compiling one costs more than running a one-row lookup. Values are given to each run, never
 * bound to the statement, so a cached one carries nothing of the last query but its compiled form.
 */
const compiled = new Map<string, Statement>();
const MAX_COMPILED = 64;
let watchdog: MemoryWatchdog | undefined;

process.on('disconnect', () => process.exit(0));
process.on('message', (message: WorkerRequest) => {
  switch (message.type) {
    case 'open':
      open(message);
      return;
    case 'query':
      void runQuery(message);
      return;
    case 'more':
      if (active?.id !== message.id) return;
      active.credit += message.batches;
      active.wake?.();
      return;
    case 'stop':
      if (active?.id !== message.id) return;
      active.stopped = true;
      active.wake?.();
      return;
  }
});

function post(event: WorkerEvent): Promise<void> {
  // Waiting for the send callback keeps at most one message in the pipe beyond the credit window.
  return new Promise((resolve) => {
    process.send?.(event, undefined, {}, (error: Error | null) => {
      if (error) process.exit(0);
      resolve();
    });
  });
}

/** Resolves true once the statement holds credit for one more batch, false if the parent asked to stop. */
async function awaitCredit(state: Active): Promise<boolean> {
  while (!state.stopped && state.credit <= 0) {
    await new Promise<void>((resolve) => { state.wake = resolve; });
    state.wake = undefined;
  }
  return !state.stopped;
}

function open(request: Extract<WorkerRequest, { type: 'open' }>): void {
  try {
    // A worker is reused for another database once its site has gone quiet: the last one is closed first.
    db?.close();
    db = undefined;
    queryOnly = undefined;
    compiled.clear();
    allowWrites = request.allowWrites;
    if (watchdog) watchdog.setLimit(request.maxMemoryBytes ?? Infinity);
    else if (request.maxMemoryBytes !== undefined) watchdog = startMemoryWatchdog(request.maxMemoryBytes);
    db = new Database(request.path, { readonly: !allowWrites, fileMustExist: true });
    db.defaultSafeIntegers(true);
    if (!allowWrites) {
      db.pragma('query_only = ON');
      queryOnly = db.prepare('SELECT query_only FROM pragma_query_only').pluck();
    }
    // A query against a missing or non-SQLite file fails here rather than on the first integrator query.
    db.prepare('SELECT count(*) FROM sqlite_schema').get();
    void post({ type: 'ready' });
  } catch (error) {
    const failure = error instanceof TypeError || (error as { code?: string }).code === 'SQLITE_CANTOPEN'
      ? new AppError('not_found', 'the SQLite database file cannot be opened')
      : sqliteError(error);
    void post({ type: 'error', id: null, code: failure.code, message: failure.message }).then(() => process.exit(1));
  }
}

async function runQuery(request: QueryRequest): Promise<void> {
  const state: Active = { id: request.id, credit: request.credit, stopped: false, wake: undefined };
  active = state;
  let end: WorkerEvent;
  watchdog?.watch(true);
  try {
    const summary = await execute(request, state);
    end = { type: 'done', id: request.id, ...summary };
  } catch (error) {
    const failure = sqliteError(error);
    end = { type: 'error', id: request.id, code: failure.code, message: failure.message };
  } finally {
    watchdog?.watch(false);
  }
  // Clean up before answering: once the parent hears the end it may send the next statement.
  try {
    // A BEGIN without COMMIT would otherwise hold locks on the practice database between queries.
    if (db?.inTransaction) db.exec('ROLLBACK');
  } catch (error) {
    const failure = sqliteError(error);
    end = { type: 'error', id: request.id, code: failure.code, message: failure.message };
  }
  active = undefined;
  await post(end);
}

interface Summary {
  rowCount: number;
  bytes: number;
  affected?: number;
  /** The last batch, not yet sent: it goes with `done`. */
  rows?: Batch;
  /** The columns of a `whole` query, when no batch carried them yet. */
  columns?: ColumnInfo[];
}

async function execute(request: QueryRequest, state: Active): Promise<Summary> {
  if (!db) throw new AppError('internal', 'the database is not open');
  if (leadingKeyword(request.text) === 'PRAGMA') {
    throw new AppError('writes_disabled', 'PRAGMA statements are not accepted; list tables and columns with pragma_table_list and pragma_table_info');
  }
  const statement = compile(db, request.text);
  if (request.mode === 'nonQuery') {
    if (!allowWrites) throw new AppError('writes_disabled', 'writes are not enabled for this database');
    const info = statement.run(request.parameters);
    await post({ type: 'columns', id: request.id, columns: [] });
    return { rowCount: 0, bytes: 2, affected: Number(info.changes) };
  }
  // Reader and scalar modes only read: the statement must return rows and, unless writes are allowed,
  // be read-only by SQLite's own judgement (this catches INSERT ... RETURNING).
  if (!statement.reader || (!allowWrites && !statement.readonly)) {
    throw new AppError('writes_disabled', `${request.mode} mode runs only read-only statements that return rows`);
  }
  return readRows(request, statement, state);
}

/** The statement compiled from `text`: from the cache, or compiled now and kept if it passes the session check. */
function compile(handle: Database.Database, text: string): Statement {
  const cached = compiled.get(text);
  // A statement still iterating (it never is between queries) cannot be run again: compile another then.
  if (cached && !cached.busy) {
    compiled.delete(text);
    compiled.set(text, cached);
    return cached;
  }
  const statement = handle.prepare(text) as Statement;
  // Backstop for anything else that changes the session while compiling: the read-only session must hold.
  if (queryOnly && Number(queryOnly.get()) !== 1) {
    handle.pragma('query_only = ON');
    throw new AppError('writes_disabled', 'the statement tried to leave the read-only session');
  }
  compiled.delete(text);
  compiled.set(text, statement);
  if (compiled.size > MAX_COMPILED) compiled.delete(compiled.keys().next().value!);
  return statement;
}

/** A batch being filled: arrays of cells, or encoded text when the query asked for an encoding. */
interface Filling {
  cells: Cell[][];
  text: string;
  count: number;
  bytes: number;
}

/** Reads rows under credit; ends early (statement finalised) when the parent asks to stop. */
async function readRows(request: QueryRequest, statement: Statement, state: Active): Promise<Summary> {
  const scalar = request.mode === 'scalar';
  const all: ColumnInfo[] = statement.columns().map((column) => ({ name: column.name, type: column.type ?? 'unknown' }));
  const columns = scalar ? all.slice(0, 1) : all;
  // The values are bound here, before the columns go: a parameter error reaches the caller before any row.
  const rows = statement.raw(true).iterate(request.parameters) as IterableIterator<unknown[]>;
  // At once, before the first row: a statement may take long to produce it, and the caller needs the columns.
  // A `whole` query's caller needs them only with the rows: they go with the first batch or the end.
  let unsent = request.whole ? columns : undefined;
  if (!unsent) await post({ type: 'columns', id: request.id, columns });
  const encoder = request.encoding ? new RowEncoder(columns, request.encoding) : undefined;
  let rowCount = 0;
  let bytes = 2; // "[]"
  /** A batch's own bytes: the JSON array of cells ("[]" and all), or the encoded text alone. */
  const empty = (): Filling => ({ cells: [], text: '', count: 0, bytes: encoder ? 0 : 2 });
  let batch = empty();
  const taken = (): Batch => (encoder ? { count: batch.count, text: batch.text, bytes: batch.bytes } : batch.cells);
  const add = (row: Cell[], size: number, text: string): void => {
    if (encoder) {
      batch.text = encoder.append(batch.text, text, batch.count);
      batch.bytes += encoder.added(size, batch.count);
    } else {
      batch.cells.push(row);
      batch.bytes += size + (batch.count > 0 ? 1 : 0);
    }
    batch.count += 1;
  };
  /** Sends the batch once credit allows; false if the parent asked to stop instead. */
  const flush = async (): Promise<boolean> => {
    if (!(await awaitCredit(state))) return false;
    state.credit -= 1;
    await post({ type: 'rows', id: request.id, rows: taken(), ...(unsent ? { columns: unsent } : {}) });
    unsent = undefined;
    batch = empty();
    return !state.stopped;
  };
  try {
    for (const raw of rows) {
      const values = scalar ? raw.slice(0, 1) : raw;
      // Checked before the row is converted and serialised, which would take several times its size again.
      if (request.maxRowBytes !== undefined && rawBytes(values) > request.maxRowBytes) throw rowLimitError(request.maxRowBytes);
      const row = values.map(toCell);
      const text = encoder ? encoder.row(row) : '';
      const size = encoder ? Buffer.byteLength(text) : rowBytes(row);
      if (request.maxRowBytes !== undefined && size > request.maxRowBytes) throw rowLimitError(request.maxRowBytes);
      rowCount += 1;
      bytes += size + (rowCount > 1 ? 1 : 0);
      if (request.maxRows !== undefined && rowCount > request.maxRows) {
        throw new AppError('result_too_large', `the result has more than ${request.maxRows} rows`);
      }
      if (request.maxBytes !== undefined && bytes > request.maxBytes) {
        throw new AppError('result_too_large', `the result is larger than ${request.maxBytes} bytes`);
      }
      // Close the batch before this row would take it past batchBytes, so a batch outgrows the limit only
      // when one row alone does; close it as soon as it is full, so a slow next row does not hold it back.
      if (batch.count > 0 && batch.bytes + 1 + size > request.batchBytes && !(await flush())) return { rowCount, bytes };
      add(row, size, text);
      if (scalar) break;
      if ((batch.count >= request.batchRows || batch.bytes >= request.batchBytes) && !(await flush())) return { rowCount, bytes };
    }
  } finally {
    rows.return?.();
  }
  if (scalar && rowCount === 0) {
    // Like ExecuteScalar: no row means a null scalar, still one row of one column.
    const text = encoder ? encoder.row([null]) : '';
    const size = encoder ? Buffer.byteLength(text) : rowBytes([null]);
    add([null], size, text);
    rowCount = 1;
    bytes = size + 2;
  }
  const withColumns = unsent ? { columns: unsent } : {};
  if (batch.count === 0) return { rowCount, bytes, ...withColumns };
  // The last batch needs credit like any other, but rides along with `done` instead of a message of its own.
  if (!(await awaitCredit(state))) return { rowCount, bytes, ...withColumns };
  state.credit -= 1;
  return { rowCount, bytes, rows: taken(), ...withColumns };
}
