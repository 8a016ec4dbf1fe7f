import type { Cell, ColumnInfo, EncodedRows, ErrorCode, RowFormat } from '@halo/contracts';
import type { BoundValue } from '../../parameters/convert-parameter.ts';

// Messages between the SQLite connector and its worker process. Rows flow under credit: the worker sends a
// batch only while it holds credit, and it reads no row from SQLite while it waits for credit, so a slow
// consumer pauses the statement itself rather than filling memory on either side.

/** Parent -> worker. */
export type WorkerRequest =
  /** `maxMemoryBytes`: the process's resident memory limit while a statement runs (sqlite-memory-watchdog.ts). */
  | { type: 'open'; path: string; allowWrites: boolean; maxMemoryBytes: number | undefined }
  | {
    type: 'query';
    id: number;
    text: string;
    parameters: Record<string, BoundValue>;
    mode: 'reader' | 'scalar' | 'nonQuery';
    maxRows: number | undefined;
    maxBytes: number | undefined;
    maxRowBytes: number | undefined;
    batchRows: number;
    batchBytes: number;
    /** Batches the worker may send before it hears more. */
    credit: number;
    /** Rows encoded here as row objects in this format (the bytes that leave the facade); else arrays of cells. */
    encoding: RowFormat | undefined;
    /** The columns go with the first batch or `done` rather than before the first row (QueryInput.whole). */
    whole: boolean;
  }
  /** The consumer took batches: the worker may send this many more. */
  | { type: 'more'; id: number; batches: number }
  /** The consumer wants no more rows: end the statement and answer `done`. */
  | { type: 'stop'; id: number };

/** One batch: arrays of cells, or encoded row text when the query asked for an encoding. */
export type Batch = Cell[][] | EncodedRows;

/**
 * Worker -> parent. `columns` means prepared and bound; `done` and `error` end a statement. The last batch
 * travels in `done` (under the same credit as any batch): one message and one wakeup fewer per statement. For a
 * `whole` query the columns travel in the first `rows` or in `done` instead of a message of their own.
 */
export type WorkerEvent =
  | { type: 'ready' }
  | { type: 'columns'; id: number; columns: ColumnInfo[] }
  | { type: 'rows'; id: number; rows: Batch; columns?: ColumnInfo[] }
  | { type: 'done'; id: number; rowCount: number; bytes: number; affected?: number; rows?: Batch; columns?: ColumnInfo[] }
  | { type: 'error'; id: number | null; code: ErrorCode; message: string };

/** Default batch limits: JSON bytes of the batch's rows, and rows; a batch closes at whichever comes first. */
export const BATCH_BYTES = 64 * 1024;
export const BATCH_ROWS = 10_000;
/** Batches read ahead of the consumer: enough to keep the pipe busy, few enough to keep memory flat. */
export const PREFETCH_BATCHES = 2;
