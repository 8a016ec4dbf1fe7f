import type { Cell } from '@halo/contracts';
import type { QueryOutput, ResultCursor } from './connector.ts';

/** Reads a cursor to the end into one result (query() on top of stream()); the cursor enforces the limits. */
export async function collectResult(cursor: ResultCursor): Promise<QueryOutput> {
  const rows: Cell[][] = [];
  for await (const batch of cursor) {
    for (const row of batch) rows.push(row);
  }
  const { rowCount, bytes, affected, executionMs } = cursor.summary();
  return { columns: cursor.columns, rows, rowCount, bytes, ...(affected === undefined ? {} : { affected }), executionMs };
}
