import { AppError, RowEncoder } from '@halo/contracts';
import type { Cell, ColumnInfo, EncodedRows, ResultParameter, RowFormat } from '@halo/contracts';
import { rowBytes } from '../../connector/cells.ts';
import type { ResultSummary } from '../../connector/connector.ts';
import { cancelError, failureError } from '../../connector/cursor-errors.ts';
import { elapsedMs } from '../../connector/elapsed-ms.ts';
import type { QueryGuard } from '../../connector/query-guard.ts';
import { rowLimitError } from '../../connector/resource-limits.ts';
import { SerialReads } from '../../connector/serial-reads.ts';
import { turnRelease } from '../../connector/turn-release.ts';

/** One statement on a server engine (PostgreSQL, MySQL), run inside its own transaction. */
export interface ServerStatement {
  /** Resolves with the columns once the statement is described (or, for nonQuery, done); rejects with an AppError. */
  readonly ready: Promise<ColumnInfo[]>;
  /** Rows changed, once a nonQuery is done. */
  readonly affected: number | undefined;
  /** A procedure call's output values, once it is finished (StatementPlan.procedure). */
  readonly outputRow?: Cell[] | undefined;
  /** Up to about `hint` more rows, read from the server only now; undefined once the result has ended. */
  read(hint: number): Promise<Cell[][] | undefined>;
  /** Normal end: stops any unread rest of the result and ends the transaction (commit for writes). */
  finish(): Promise<void>;
  /**
   * Stops the statement now: cancels it on the server if it is running, rolls the transaction back and leaves
   * the connection ready for the next statement (or discards it). Idempotent; never rejects.
   */
  abort(): Promise<void>;
}

/** How the cursor shapes batches and where it stops. */
export interface CursorLimits {
  scalar: boolean;
  maxRows: number | undefined;
  maxBytes: number | undefined;
  maxRowBytes: number | undefined;
  batchRows: number;
  batchBytes: number;
  /** A procedure call: its output values as result parameters, from the statement's outputRow. */
  outputs?: (row: readonly Cell[] | undefined) => ResultParameter[];
  /** Batches as row-object text in this format (EncodedRows) instead of cells: each row is serialised once. */
  encoding?: RowFormat;
}

// Rows asked of the server per round trip; a batch may take several, leftovers wait for the next batch.
const FETCH_ROWS = 1_000;

type State = 'open' | 'ended' | 'closed' | 'failed';

/**
 * A server engine's result read batch by batch, each batch fetched from the server only when pulled. It owns its
 * connector's turn until it ends, fails, is left early or is cancelled; the query's deadline and abort signal
 * cancel it whether or not anyone is iterating.
 */
export class ServerCursor<B extends Cell[][] | EncodedRows = Cell[][]> {
  readonly columns: ColumnInfo[];
  /** With limits.encoding: rows are serialised once, as objects (sizes from RowEncoder.keyBytes). */
  readonly #encoder: RowEncoder | undefined;
  readonly #statement: ServerStatement;
  readonly #limits: CursorLimits;
  readonly #release: () => void;
  readonly #started: number;
  readonly #reads = new SerialReads();
  #state: State = 'open';
  #error: AppError | undefined;
  #summary: ResultSummary | undefined;
  #stopping: Promise<void> | undefined;
  #pending: Cell[][] = [];
  #pendingAt = 0;
  #sourceEnded = false;
  #rowCount = 0;
  #bytes = 2;

  constructor(columns: ColumnInfo[], statement: ServerStatement, limits: CursorLimits, guard: QueryGuard, started: number, release: () => void) {
    this.columns = limits.scalar ? columns.slice(0, 1) : columns;
    // A row's limits count its cell array's JSON, as on the cell path: the object is the array plus its keys.
    this.#encoder = limits.encoding ? new RowEncoder(this.columns, limits.encoding) : undefined;
    this.#statement = statement;
    this.#limits = limits;
    this.#started = started;
    this.#release = turnRelease(guard, release);
    guard.stopped.catch((reason: unknown) => this.cancel(reason));
  }

  summary(): ResultSummary {
    if (!this.#summary) throw new AppError('internal', 'the result has not been read to the end');
    return this.#summary;
  }

  cancel(reason?: unknown): Promise<void> {
    if (this.#state !== 'open') return this.#stopping ?? Promise.resolve();
    this.#fail(cancelError(reason));
    return this.#stop();
  }

  [Symbol.asyncIterator](): AsyncIterator<B, undefined> {
    return {
      next: () => this.#reads.run(() => this.#read()),
      return: async () => {
        if (this.#state === 'open') {
          this.#state = 'closed';
          await this.#stop();
        }
        return { done: true, value: undefined };
      },
    };
  }

  async #read(): Promise<IteratorResult<B, undefined>> {
    if (this.#state !== 'open') return this.#afterOpen();
    const { scalar, maxRows, maxBytes, maxRowBytes, batchRows, batchBytes: batchLimit } = this.#limits;
    const encoder = this.#encoder;
    const batch: Cell[][] = [];
    const texts: string[] = [];
    let textBytes = 0;
    let batchBytes = 2;
    try {
      while (batch.length < batchRows && batchBytes < batchLimit && !(scalar && this.#rowCount > 0)) {
        if (this.#pendingAt >= this.#pending.length) {
          if (this.#sourceEnded) break;
          const rows = await this.#statement.read(Math.min(batchRows, FETCH_ROWS));
          if (this.#state !== 'open') return this.#afterOpen();
          if (rows === undefined) {
            this.#sourceEnded = true;
            break;
          }
          this.#pending = rows;
          this.#pendingAt = 0;
          continue;
        }
        const raw = this.#pending[this.#pendingAt] ?? [];
        const row = scalar ? [raw[0] ?? null] : raw;
        const text = encoder?.row(row);
        const textSize = text === undefined ? 0 : Buffer.byteLength(text);
        const size = text === undefined ? rowBytes(row) : textSize - encoder!.keyBytes;
        if (maxRowBytes !== undefined && size > maxRowBytes) throw rowLimitError(maxRowBytes);
        // Close the batch before this row would take it past batchBytes; one larger row travels alone.
        if (batch.length > 0 && batchBytes + 1 + size > batchLimit) break;
        this.#pendingAt += 1;
        this.#rowCount += 1;
        this.#bytes += size + (this.#rowCount > 1 ? 1 : 0);
        if (maxRows !== undefined && this.#rowCount > maxRows) {
          throw new AppError('result_too_large', `the result has more than ${maxRows} rows`);
        }
        if (maxBytes !== undefined && this.#bytes > maxBytes) {
          throw new AppError('result_too_large', `the result is larger than ${maxBytes} bytes`);
        }
        if (text === undefined) {
          batch.push(row);
        } else {
          texts.push(text);
          textBytes += textSize;
        }
        batchBytes += size + (batch.length + texts.length > 1 ? 1 : 0);
      }
    } catch (error) {
      if (this.#state === 'open') {
        this.#fail(failureError(error));
        await this.#stop();
      }
      return this.#afterOpen();
    }
    this.#pending = this.#pendingAt >= this.#pending.length ? [] : this.#pending;
    if (batch.length > 0) return { done: false, value: batch as B };
    if (encoder && texts.length > 0) return { done: false, value: encoder.batch(texts, textBytes) as B };
    if (scalar && this.#rowCount === 0) {
      // Like ExecuteScalar: no row means a null scalar, still one row of one column.
      this.#rowCount = 1;
      this.#bytes = rowBytes([null]) + 2;
      const value = encoder ? encoder.encode([[null]]) : [[null]];
      return { done: false, value: value as B };
    }
    return this.#end();
  }

  async #end(): Promise<IteratorResult<B, undefined>> {
    try {
      await this.#statement.finish();
    } catch (error) {
      if (this.#state === 'open') {
        this.#fail(failureError(error));
        await this.#stop();
      }
      return this.#afterOpen();
    }
    if (this.#state !== 'open') return this.#afterOpen();
    const affected = this.#statement.affected;
    const parameters = this.#limits.outputs?.(this.#statement.outputRow) ?? [];
    this.#summary = {
      rowCount: this.#rowCount,
      bytes: this.#bytes,
      ...(affected === undefined ? {} : { affected }),
      executionMs: elapsedMs(this.#started),
      ...(parameters.length > 0 ? { parameters } : {}),
    };
    this.#state = 'ended';
    this.#release();
    return { done: true, value: undefined };
  }

  async #afterOpen(): Promise<IteratorResult<B, undefined>> {
    // A cancelled statement's error surfaces only once the server has let go of it.
    await this.#stopping;
    if (this.#state === 'failed') throw this.#error;
    return { done: true, value: undefined };
  }

  #stop(): Promise<void> {
    this.#stopping ??= this.#statement.abort().then(() => this.#release());
    return this.#stopping;
  }

  #fail(error: AppError): void {
    this.#state = 'failed';
    this.#error = error;
    this.#pending = [];
  }
}
