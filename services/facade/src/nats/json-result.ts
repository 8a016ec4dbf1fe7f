import { AppError, type Cell, type ColumnInfo, type QueryResult } from '@halo/contracts';
import type { ResultStream } from '@halo/messaging';

/** Largest JSON (non-streamed) immediate response; bigger results ask for NDJSON or async. */
export const MAX_JSON_RESULT_BYTES = 8 * 1024 * 1024;

/** Rough JSON size of one row as a record: cheap enough per row, close enough for a cap. */
function recordSize(columns: readonly ColumnInfo[], row: readonly Cell[]): number {
  let size = 2;
  for (let i = 0; i < row.length; i++) {
    const cell = row[i];
    size += (columns[i]?.name.length ?? 0) + 4;
    size += typeof cell === 'string' ? cell.length + 2 : cell === null ? 4 : 8;
  }
  return size;
}

/** Reads a whole result into memory, refusing (and cancelling) one over `maxBytes` with result_too_large. */
export async function collectJsonResult(stream: ResultStream, columns: ColumnInfo[], maxBytes = MAX_JSON_RESULT_BYTES): Promise<QueryResult> {
  const rows: Cell[][] = [];
  let size = 0;
  for await (const batch of stream) {
    for (const row of batch) {
      size += recordSize(columns, row);
      rows.push(row);
    }
    if (size > maxBytes) {
      stream.cancel();
      throw new AppError('result_too_large', `the result is larger than ${maxBytes / 1024 / 1024} MB; ask for application/x-ndjson or run it async`);
    }
  }
  const summary = await stream.summary();
  return {
    columns,
    rows,
    rowCount: summary.rowCount,
    bytes: summary.bytes,
    ...(summary.affected !== undefined ? { affected: summary.affected } : {}),
    ...(summary.parameters ? { parameters: summary.parameters } : {}),
    timings: summary.timings,
  };
}
