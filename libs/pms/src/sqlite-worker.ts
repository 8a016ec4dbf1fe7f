/**
 * Worker process of the SQLite connector: owns the better-sqlite3 handle, runs one statement at a time and
 * posts rows in batches. It is a child process rather than a worker thread because a statement busy inside
 * one sqlite3_step() (an aggregate over a huge CTE, say) never returns to JavaScript, so Worker.terminate()
 * cannot stop it, and better-sqlite3 exposes no sqlite3_interrupt(); killing a process always stops it.
 */
import Database from 'better-sqlite3';
import { AppError } from '@halo/contracts';
import type { Cell, ColumnInfo } from '@halo/contracts';
import { rowBytes, toCell } from './cells.ts';
import { leadingKeyword } from './leading-keyword.ts';
import { sqliteError } from './sqlite-errors.ts';
import { BATCH_BYTES, BATCH_ROWS } from './sqlite-protocol.ts';
import type { WorkerEvent, WorkerRequest } from './sqlite-protocol.ts';

type QueryRequest = Extract<WorkerRequest, { type: 'query' }>;
type Statement = Database.Statement<unknown[], unknown>;

let db: Database.Database | undefined;
let allowWrites = false;
let queryOnly: Database.Statement<[], unknown> | undefined;

process.on('disconnect', () => process.exit(0));
process.on('message', (message: WorkerRequest) => {
  if (message.type === 'open') open(message);
  else void runQuery(message);
});

function post(event: WorkerEvent): Promise<void> {
  // Waiting for the send callback is the backpressure: the next batch is read only once this one is out.
  return new Promise((resolve) => {
    process.send?.(event, undefined, {}, (error: Error | null) => {
      if (error) process.exit(0);
      resolve();
    });
  });
}

function open(request: Extract<WorkerRequest, { type: 'open' }>): void {
  try {
    allowWrites = request.allowWrites;
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
  try {
    if (!db) throw new AppError('internal', 'the database is not open');
    if (leadingKeyword(request.text) === 'PRAGMA') {
      throw new AppError('writes_disabled', 'PRAGMA statements are not accepted; read settings with pragma_* table functions');
    }
    const statement = db.prepare(request.text) as Statement;
    // Backstop for anything else that changes the session while compiling: the read-only session must hold.
    if (queryOnly && Number(queryOnly.get()) !== 1) {
      db.pragma('query_only = ON');
      throw new AppError('writes_disabled', 'the statement tried to leave the read-only session');
    }
    if (request.mode === 'nonQuery') {
      if (!allowWrites) throw new AppError('writes_disabled', 'writes are not enabled for this database');
      const info = statement.run(request.parameters);
      await post({ type: 'columns', id: request.id, columns: [] });
      await post({ type: 'done', id: request.id, rowCount: 0, bytes: 2, affected: Number(info.changes) });
      return;
    }
    // Reader and scalar modes only read: the statement must return rows and, unless writes are allowed,
    // be read-only by SQLite's own judgement (this catches INSERT ... RETURNING).
    if (!statement.reader || (!allowWrites && !statement.readonly)) {
      throw new AppError('writes_disabled', `${request.mode} mode runs only read-only statements that return rows`);
    }
    await readRows(request, statement);
  } catch (error) {
    const failure = sqliteError(error);
    await post({ type: 'error', id: request.id, code: failure.code, message: failure.message });
  } finally {
    // A BEGIN without COMMIT would otherwise hold locks on the practice database between queries.
    if (db?.inTransaction) db.exec('ROLLBACK');
  }
}

async function readRows(request: QueryRequest, statement: Statement): Promise<void> {
  const scalar = request.mode === 'scalar';
  const columns: ColumnInfo[] = statement.columns().map((column) => ({ name: column.name, type: column.type ?? 'unknown' }));
  await post({ type: 'columns', id: request.id, columns: scalar ? columns.slice(0, 1) : columns });
  const rows = statement.raw(true).iterate(request.parameters) as IterableIterator<unknown[]>;
  let rowCount = 0;
  let bytes = 2; // "[]"
  let batch: Cell[][] = [];
  let batchBytes = 0;
  try {
    for (const raw of rows) {
      const row = scalar ? [toCell(raw[0])] : raw.map(toCell);
      const size = rowBytes(row);
      rowCount += 1;
      bytes += size + (rowCount > 1 ? 1 : 0);
      if (request.maxRows !== undefined && rowCount > request.maxRows) {
        throw new AppError('result_too_large', `the result has more than ${request.maxRows} rows`);
      }
      if (request.maxBytes !== undefined && bytes > request.maxBytes) {
        throw new AppError('result_too_large', `the result is larger than ${request.maxBytes} bytes`);
      }
      batch.push(row);
      batchBytes += size;
      if (scalar) break;
      if (batch.length >= BATCH_ROWS || batchBytes >= BATCH_BYTES) {
        await post({ type: 'rows', id: request.id, rows: batch });
        batch = [];
        batchBytes = 0;
      }
    }
  } finally {
    rows.return?.();
  }
  if (scalar && rowCount === 0) {
    // Like ExecuteScalar: no row means a null scalar, still one row of one column.
    batch.push([null]);
    rowCount = 1;
    bytes = rowBytes([null]) + 2;
  }
  if (batch.length > 0) await post({ type: 'rows', id: request.id, rows: batch });
  await post({ type: 'done', id: request.id, rowCount, bytes });
}
