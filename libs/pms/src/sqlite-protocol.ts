import type { Cell, ColumnInfo, ErrorCode } from '@halo/contracts';
import type { BoundValue } from './parameters.ts';

// Messages between the SQLite connector and its worker process. Rows travel in batches so that a later
// streaming query() can forward each batch as a chunk instead of collecting them.

/** Parent -> worker. */
export type WorkerRequest =
  | { type: 'open'; path: string; allowWrites: boolean }
  | {
    type: 'query';
    id: number;
    text: string;
    parameters: Record<string, BoundValue>;
    mode: 'reader' | 'scalar' | 'nonQuery';
    maxRows: number | undefined;
    maxBytes: number | undefined;
  };

/** Worker -> parent. */
export type WorkerEvent =
  | { type: 'ready' }
  | { type: 'columns'; id: number; columns: ColumnInfo[] }
  | { type: 'rows'; id: number; rows: Cell[][] }
  | { type: 'done'; id: number; rowCount: number; bytes: number; affected?: number }
  | { type: 'error'; id: number | null; code: ErrorCode; message: string };

/** Rows per batch, and bytes after which a batch is sent early. */
export const BATCH_ROWS = 500;
export const BATCH_BYTES = 64 * 1024;
