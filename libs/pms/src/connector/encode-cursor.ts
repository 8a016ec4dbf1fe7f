import { RowEncoder, type EncodedRows, type RowFormat } from '@halo/contracts';
import type { EncodedCursor, ResultCursor, ResultSummary } from './connector.ts';

/**
 * The encoded view of a cursor whose rows are already in this process (the driver parsed them): each batch is
 * encoded once, here, and never parsed again on its way to the integrator.
 */
export function encodeCursor(cursor: ResultCursor, format: RowFormat): EncodedCursor {
  const encoder = new RowEncoder(cursor.columns, format);
  return {
    columns: cursor.columns,
    summary: (): ResultSummary => cursor.summary(),
    cancel: (reason?: unknown) => cursor.cancel(reason),
    [Symbol.asyncIterator](): AsyncIterator<EncodedRows, undefined> {
      const rows = cursor[Symbol.asyncIterator]();
      return {
        next: async () => {
          const next = await rows.next();
          return next.done ? { done: true, value: undefined } : { done: false, value: encoder.encode(next.value) };
        },
        return: async () => {
          await rows.return?.();
          return { done: true, value: undefined };
        },
      };
    },
  };
}
