import { resolve } from 'node:path';
import { AppError } from '@halo/contracts';
import type { Cell, ColumnInfo, EncodedRows, RowFormat } from '@halo/contracts';
import { checkProcedureInput, isProcedureCall } from '../../connector/procedure-call.ts';
import { checkQueryInput } from '../../connector/check-input.ts';
import { collectResult } from '../../connector/collect-result.ts';
import type { Connector, EncodedCursor, QueryInput, QueryOutput, ResultCursor } from '../../connector/connector.ts';
import { bindParameters } from '../../parameters/convert-parameter.ts';
import { guardQuery } from '../../connector/query-guard.ts';
import type { ResourceLimits } from '../../connector/resource-limits.ts';
import { assertReadOnly } from '../../guard/read-only-guard.ts';
import { SqliteCursor } from './sqlite-cursor.ts';
import { SqliteProcess } from './sqlite-process.ts';
import { checkSqliteDatabase } from './sqlite-trusted-reader.ts';
import { StatementQueue } from '../../connector/statement-queue.ts';
import { BATCH_BYTES, BATCH_ROWS, PREFETCH_BATCHES, type Batch } from './sqlite-protocol.ts';

/**
 * A SQLite database file; read-only unless allowWrites. `workerIdleMs`: how long the worker process stays after
 * its last statement (default 60 s).
 */
export type SqliteConfig = { engine: 'sqlite'; path: string; allowWrites?: boolean; workerIdleMs?: number } & ResourceLimits;

const DEFAULT_WORKER_IDLE_MS = 60_000;

/**
 * Opens a SQLite database (read-only unless allowWrites). The file is checked in-process; the worker process
 * starts with the first statement and exits when idle, so an agent with many quiet sites runs few processes.
 */
export async function openSqliteConnector(config: SqliteConfig): Promise<Connector> {
  const path = resolve(config.path);
  const allowWrites = config.allowWrites === true;
  const limits: ResourceLimits = { maxMemoryBytes: config.maxMemoryBytes, maxRowBytes: config.maxRowBytes };
  checkSqliteDatabase(path);
  return Promise.resolve(new SqliteConnector(path, allowWrites, limits, config.workerIdleMs ?? DEFAULT_WORKER_IDLE_MS));
}

/**
 * SQLite connector: statements run in a child process so the caller's event loop never blocks, and a
 * statement past its deadline (or aborted) is stopped by killing that process; the next query starts a
 * fresh one (as does the first statement, and the first after the idle worker exited). Statements run one at a time, in arrival order: a streamed one holds the connector until its
 * cursor is finished, left or cancelled.
 */
class SqliteConnector implements Connector {
  readonly engine = 'sqlite' as const;
  readonly #path: string;
  readonly #allowWrites: boolean;
  readonly #limits: ResourceLimits;
  readonly #idleMs: number;
  #worker: SqliteProcess | undefined;
  /** Holds either kind of cursor (cells or encoded); it only ever cancels one. */
  readonly #queue = new StatementQueue<{ cancel(reason?: unknown): Promise<void> }>();
  #closed = false;

  constructor(path: string, allowWrites: boolean, limits: ResourceLimits, idleMs: number) {
    this.#path = path;
    this.#allowWrites = allowWrites;
    this.#limits = limits;
    this.#idleMs = idleMs;
  }

  identity(): string {
    return `sqlite:${this.#path}`;
  }

  async query(input: QueryInput): Promise<QueryOutput> {
    return collectResult(await this.stream({ ...input, whole: true }));
  }

  stream(input: QueryInput): Promise<ResultCursor> {
    return this.#start<Cell[][]>(input, undefined);
  }

  /** The worker encodes the rows itself: they cross the pipe as the text the facade sends. */
  streamEncoded(input: QueryInput, format: RowFormat): Promise<EncodedCursor> {
    return this.#start<EncodedRows>(input, format);
  }

  async #start<B extends Batch>(input: QueryInput, encoding: RowFormat | undefined): Promise<SqliteCursor<B>> {
    if (this.#closed) throw new AppError('internal', 'the connector is closed');
    checkQueryInput(input);
    checkProcedureInput(input, false);
    if (isProcedureCall(input)) throw new AppError('procedures_not_supported', 'SQLite has no stored procedures: send the statement as command type text');
    // Backstop behind the read-only open and query_only: refuse anything the classifier cannot prove is a read.
    if (!this.#allowWrites && input.executionMode !== 'nonQuery') assertReadOnly(input.text, 'sqlite');
    const parameters = bindParameters(input.parameters);
    const guard = guardQuery(input.deadline, input.signal);
    return this.#queue.run(guard, () => this.#closed, async (turn) => {
      const worker = await Promise.race([this.#ensureWorker(), guard.stopped]);
      // close() may have come while the worker was starting: it must not outlive the connector.
      if (this.#closed) {
        await worker.close();
        throw new AppError('internal', 'the connector was closed');
      }
      const started = performance.now();
      const statement = worker.run<B>({
        text: input.text,
        parameters,
        mode: input.executionMode,
        maxRows: input.maxRows,
        maxBytes: input.maxBytes,
        maxRowBytes: input.maxRowBytes ?? this.#limits.maxRowBytes,
        batchRows: input.batchRows ?? BATCH_ROWS,
        batchBytes: input.batchBytes ?? BATCH_BYTES,
        credit: PREFETCH_BATCHES,
        encoding,
        whole: input.whole ?? false,
      });
      let columns: ColumnInfo[];
      try {
        columns = await Promise.race([statement.prepared, guard.stopped]);
      } catch (error) {
        if (!statement.isSettled) void this.#kill(worker);
        throw error;
      }
      const cursor = new SqliteCursor<B>(columns, statement, guard, started, {
        kill: (reason) => this.#kill(worker, reason),
        release: turn.release,
      });
      turn.adopt(cursor);
      return cursor;
    }) as Promise<SqliteCursor<B>>;
  }

  /** Stops at once: a running statement is killed and queued ones are refused. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const reason = new AppError('internal', 'the connector was closed');
    // Only a worker still this connector's: one another site has taken is that site's to close.
    const worker = this.#worker?.claim(this) ? this.#worker : undefined;
    const cancelled = this.#queue.current?.cancel(reason);
    if (worker?.busy) worker.kill(reason);
    await this.#queue.drained();
    await cancelled;
    await worker?.close();
    if (this.#worker !== worker && this.#worker?.claim(this)) await this.#worker.close();
    this.#worker = undefined;
  }

  /** Kills a worker to stop its statement; the next statement starts a fresh one. */
  #kill(worker: SqliteProcess, reason?: AppError): Promise<void> {
    worker.kill(reason);
    if (this.#worker === worker) this.#worker = undefined;
    return worker.exited;
  }

  async #ensureWorker(): Promise<SqliteProcess> {
    // A worker this connector left idle may have been taken by another site meanwhile (SqliteProcess.claim).
    if (this.#worker?.claim(this)) return this.#worker;
    this.#worker = await SqliteProcess.start(this, this.#path, this.#allowWrites, this.#limits.maxMemoryBytes, this.#idleMs);
    return this.#worker;
  }
}
