import { AppError, RowEncoder } from '@halo/contracts';
import type { Cell, ColumnInfo, EncodedRows, RowFormat } from '@halo/contracts';
import { Request } from 'tedious';
import type { Connection } from 'tedious';
import { rowBytes } from '../../connector/cells.ts';
import { rowLimitError } from '../../connector/resource-limits.ts';
import type { QueryInput, ResultSummary } from '../../connector/connector.ts';
import { cancelError } from '../../connector/cursor-errors.ts';
import { elapsedMs } from '../../connector/elapsed-ms.ts';
import { mssqlCell, mssqlColumn } from './mssql-cells.ts';
import type { MssqlColumnMetadata } from './mssql-cells.ts';
import { isCancelError, mssqlRequestError } from './mssql-errors.ts';
import type { MssqlParameter } from './mssql-parameters.ts';
import type { QueryGuard } from '../../connector/query-guard.ts';
import { SerialReads } from '../../connector/serial-reads.ts';
import { isProcedureCall, outputParameters, resultParameter } from '../../connector/procedure-call.ts';

// Complete batches held ahead of the consumer before the request is paused (which stops tedious reading the
// socket, so TCP backpressure holds the server): memory stays at about this many batches whatever the result size.
const PREFETCH_BATCHES = 2;
const BATCH_BYTES = 64 * 1024;
const BATCH_ROWS = 10_000;

type State = 'open' | 'ended' | 'closed' | 'failed';

/** What a cursor needs from its connector. */
export interface MssqlCursorHooks {
  /** The request finished (normally, failed or cancelled): the connection may take the next statement. Called once. */
  release(): void;
  /** The connection broke during this statement; the connector opens a new one for the next. */
  broken(): void;
}

/**
 * One statement run through sp_executesql, streamed. It owns its connector's turn from start until tedious
 * reports the request complete, which after a cancel is only once the server acknowledged ATTENTION (or
 * tedious gave up waiting and closed the connection), so no two statements ever overlap on the connection.
 */
export class MssqlCursor<B extends Cell[][] | EncodedRows = Cell[][]> {
  columns: ColumnInfo[] = [];
  /** Batches as row-object text in this format instead of cells: each row is serialised once (see ServerCursor). */
  readonly #format: RowFormat | undefined;
  #encoder: RowEncoder | undefined;
  #texts: string[] = [];
  #textBytes = 0;
  /** Resolves once the result's columns are known (or a statement without a result set ended); rejects on failure. */
  readonly prepared: Promise<void>;
  /** Resolves once tedious completed the request (never rejects). */
  readonly finished: Promise<void>;
  readonly #connection: Connection;
  readonly #input: QueryInput;
  readonly #guard: QueryGuard;
  readonly #hooks: MssqlCursorHooks;
  readonly #request: Request;
  readonly #batchBytes: number;
  readonly #batchRows: number;
  readonly #prepared = Promise.withResolvers<void>();
  readonly #finished = Promise.withResolvers<void>();
  #metadata: MssqlColumnMetadata[] | undefined;
  #resultSets = 0;
  #state: State = 'open';
  #error: AppError | undefined;
  #summary: ResultSummary | undefined;
  #completed = false;
  /** We stopped the request ourselves (scalar done, cursor left early, limit hit): its ECANCEL is expected. */
  #stopRequested = false;
  #queue: B[] = [];
  #batch: Cell[][] = [];
  #batchSize = 2;
  #rowCount = 0;
  #bytes = 2;
  #started = performance.now();
  #waiter: PromiseWithResolvers<void> | undefined;
  readonly #reads = new SerialReads();
  readonly #procedure: boolean;
  /** Output parameter values by lower-cased name (without @), and the procedure's RETURN status. */
  readonly #outputs = new Map<string, Cell>();
  #returnStatus: number | undefined;
  /** scalar of a procedure: the first cell is kept and the rest read past, since output values come at the end. */
  #scalarTaken = false;

  constructor(connection: Connection, input: QueryInput, parameters: readonly MssqlParameter[], guard: QueryGuard, hooks: MssqlCursorHooks, format?: RowFormat) {
    this.#format = format;
    this.#connection = connection;
    this.#input = input;
    this.#guard = guard;
    this.#hooks = hooks;
    this.#batchBytes = input.batchBytes ?? BATCH_BYTES;
    this.#batchRows = input.batchRows ?? BATCH_ROWS;
    this.prepared = this.#prepared.promise;
    this.prepared.catch(() => {});
    this.finished = this.#finished.promise;
    this.#procedure = isProcedureCall(input);
    this.#request = new Request(this.#procedure ? input.text.trim() : input.text, (error, rowCount) => this.#onComplete(error, rowCount));
    for (const p of parameters) {
      if (p.direction === 'input') this.#request.addParameter(p.name, p.type, p.value, p.options);
      else if (p.direction !== 'returnValue') this.#request.addOutputParameter(p.name, p.type, p.value, p.options);
    }
    this.#request.on('returnValue', (name: string, value: unknown, meta: unknown) => {
      this.#outputs.set(name.toLowerCase(), mssqlCell(meta as MssqlColumnMetadata, value));
    });
    this.#request.on('doneProc', (_rows: unknown, _more: unknown, status: unknown) => {
      if (typeof status === 'number') this.#returnStatus = status;
    });
    this.#request.on('columnMetadata', (columns) => this.#onColumns(columns as unknown as MssqlColumnMetadata[]));
    this.#request.on('row', (columns) => this.#onRow(columns as unknown as Array<{ value: unknown }>));
  }

  /** Sends the statement (sp_executesql, so parameters are typed and the plan is reused), or the procedure's RPC. */
  start(): void {
    this.#started = performance.now();
    if (this.#procedure) this.#connection.callProcedure(this.#request);
    else this.#connection.execSql(this.#request);
    // Registered only now: connection.cancel() needs the request to be the connection's current one.
    this.#guard.stopped.catch((reason: unknown) => this.cancel(reason));
  }

  summary(): ResultSummary {
    if (!this.#summary) throw new AppError('internal', 'the result has not been read to the end');
    return this.#summary;
  }

  cancel(reason?: unknown): Promise<void> {
    if (this.#state === 'open') {
      this.#fail(cancelError(reason));
      this.#stop();
    }
    return this.finished;
  }

  [Symbol.asyncIterator](): AsyncIterator<B, undefined> {
    return {
      next: () => this.#reads.run(() => this.#next()),
      return: async () => {
        if (this.#state === 'open') {
          this.#state = 'closed';
          this.#queue = [];
          this.#stop();
        }
        await this.finished;
        return { done: true, value: undefined };
      },
    };
  }

  async #next(): Promise<IteratorResult<B, undefined>> {
    for (;;) {
      if (this.#state === 'failed') {
        // Batches complete before a limit was passed are still delivered; a cancel drops them.
        const batch = this.#error?.code === 'result_too_large' ? this.#queue.shift() : undefined;
        if (batch) return { done: false, value: batch };
        await this.finished;
        throw this.#error;
      }
      const batch = this.#queue.shift();
      if (batch) {
        if (this.#queue.length < PREFETCH_BATCHES && this.#request.paused && !this.#completed) this.#request.resume();
        return { done: false, value: batch };
      }
      if (this.#state !== 'open') return { done: true, value: undefined };
      this.#waiter = Promise.withResolvers<void>();
      await this.#waiter.promise;
    }
  }

  #onColumns(columns: MssqlColumnMetadata[]): void {
    this.#resultSets++;
    if (this.#input.executionMode === 'nonQuery') return;
    if (this.#resultSets > 1) {
      if (this.#state === 'open') {
        this.#fail(new AppError('query_failed', 'the statement returned more than one result set; send one SELECT per query'));
        this.#stop();
      }
      return;
    }
    this.#metadata = this.#input.executionMode === 'scalar' ? columns.slice(0, 1) : columns;
    this.columns = this.#metadata.map(mssqlColumn);
    this.#encodeAs(this.columns);
    this.#prepared.resolve();
  }

  #onRow(columns: Array<{ value: unknown }>): void {
    if (this.#state !== 'open' || this.#input.executionMode === 'nonQuery' || this.#resultSets > 1 || this.#scalarTaken) return;
    const metadata = this.#metadata ?? [];
    const row = metadata.map((meta, i) => mssqlCell(meta, columns[i]?.value));
    this.#add(row);
    if (this.#input.executionMode === 'scalar' && this.#state === 'open') {
      // Like ExecuteScalar: the first row's first cell is the answer; the rest is not read (a procedure's is
      // read past, its output values coming last).
      if (this.#procedure) {
        this.#scalarTaken = true;
        return;
      }
      this.#endWithSummary();
      this.#stop();
    }
  }

  /** With a format: the encoder for these columns (a row's sizes come from RowEncoder.keyBytes). */
  #encodeAs(columns: ColumnInfo[]): void {
    if (this.#format !== undefined) this.#encoder = new RowEncoder(columns, this.#format);
  }

  #add(row: Cell[]): void {
    const text = this.#encoder?.row(row);
    const textSize = text === undefined ? 0 : Buffer.byteLength(text);
    const size = text === undefined ? rowBytes(row) : textSize - this.#encoder!.keyBytes;
    const { maxRowBytes } = this.#input;
    if (maxRowBytes !== undefined && size > maxRowBytes) {
      this.#dropBatch();
      this.#fail(rowLimitError(maxRowBytes));
      this.#stop();
      return;
    }
    this.#rowCount++;
    this.#bytes += size + (this.#rowCount > 1 ? 1 : 0);
    const { maxRows, maxBytes } = this.#input;
    if ((maxRows !== undefined && this.#rowCount > maxRows) || (maxBytes !== undefined && this.#bytes > maxBytes)) {
      this.#dropBatch();
      this.#fail(new AppError('result_too_large', 'the result is larger than the limit for this query'));
      this.#stop();
      return;
    }
    const held = this.#batch.length + this.#texts.length;
    if (held > 0 && this.#batchSize + size + 1 > this.#batchBytes) this.#closeBatch();
    if (text === undefined) {
      this.#batch.push(row);
    } else {
      this.#texts.push(text);
      this.#textBytes += textSize;
    }
    const rows = this.#batch.length + this.#texts.length;
    this.#batchSize += size + (rows > 1 ? 1 : 0);
    if (rows >= this.#batchRows) this.#closeBatch();
  }

  /** The batch being filled is dropped (a limit was passed; complete batches are still delivered). */
  #dropBatch(): void {
    this.#batch = [];
    this.#texts = [];
    this.#textBytes = 0;
  }

  #closeBatch(): void {
    if (this.#encoder && this.#texts.length > 0) {
      this.#queue.push(this.#encoder.batch(this.#texts, this.#textBytes) as B);
      this.#texts = [];
      this.#textBytes = 0;
    } else if (this.#batch.length > 0) {
      this.#queue.push(this.#batch as B);
    } else {
      return;
    }
    this.#batch = [];
    this.#batchSize = 2;
    if (this.#queue.length >= PREFETCH_BATCHES) this.#request.pause();
    this.#wake();
  }

  #onComplete(error: Error | null | undefined, rowCount: number | undefined): void {
    this.#completed = true;
    if (this.#state === 'open') {
      if (error && !(this.#stopRequested && isCancelError(error))) {
        this.#fail(mssqlRequestError(error));
      } else {
        if (this.#input.executionMode === 'scalar' && this.#rowCount === 0) {
          this.columns = this.columns.length > 0 ? this.columns : [{ name: '', type: 'unknown' }];
          if (!this.#encoder) this.#encodeAs(this.columns);
          this.#add([null]);
        }
        this.#endWithSummary(this.#input.executionMode === 'nonQuery' ? Math.max(0, rowCount ?? 0) : undefined);
      }
    }
    if (error && !isCancelError(error) && !(error as { number?: unknown }).number) this.#hooks.broken();
    if (this.#state === 'failed') this.#prepared.reject(this.#error);
    else this.#prepared.resolve();
    this.#guard.dispose();
    this.#hooks.release();
    this.#finished.resolve();
    this.#wake();
  }

  #endWithSummary(affected?: number): void {
    this.#closeBatch();
    const executionMs = elapsedMs(this.#started);
    this.#summary = { rowCount: this.#rowCount, bytes: this.#bytes, ...(affected === undefined ? {} : { affected }), executionMs, ...this.#outputValues() };
    this.#state = 'ended';
    this.#wake();
  }

  #outputValues(): { parameters?: ResultSummary['parameters'] } {
    if (!this.#procedure) return {};
    const wanted = outputParameters(this.#input.parameters);
    if (wanted.length === 0) return {};
    return {
      parameters: wanted.map((p) => resultParameter(p, p.direction === 'returnValue'
        ? this.#returnStatus ?? null
        : this.#outputs.get(p.name.replace(/^@/, '').toLowerCase()))),
    };
  }

  /** Stops the request: tedious sends ATTENTION (or, mid-send, ends the message with IGNORE) and completes it once acknowledged. */
  #stop(): void {
    if (this.#completed || this.#stopRequested) return;
    this.#stopRequested = true;
    this.#connection.cancel();
  }

  #fail(error: AppError): void {
    this.#state = 'failed';
    this.#error = error;
    this.#wake();
  }

  #wake(): void {
    const waiter = this.#waiter;
    this.#waiter = undefined;
    waiter?.resolve();
  }
}
