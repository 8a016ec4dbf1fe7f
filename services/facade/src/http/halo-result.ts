import type { Cell, ColumnInfo, ExecutionMode, NonQueryResult, ReaderResult, ResultParameter } from '@halo/contracts';

/** What a finished query produced, whatever ran it (immediate, async, registered). */
export interface RowsOutcome {
  executionMode: ExecutionMode;
  columns: readonly ColumnInfo[];
  rows: readonly (readonly Cell[])[];
  /** Rows affected, for nonQuery. */
  affected?: number;
  /** Output, inputOutput and returnValue parameters with their values. */
  parameters?: readonly ResultParameter[];
}

/**
 * Halo's result object: reader (and scalar: its first cell as the one row) `{rows, size, data, parameters?}`,
 * where `data` is base64 of the UTF-8 JSON array of row objects and `size` its byte length before base64;
 * nonQuery `{rowsAffected, size, parameters?}`.
 */
export function toHaloResult(outcome: RowsOutcome): ReaderResult | NonQueryResult {
  const parameters = outcome.parameters?.length ? { parameters: [...outcome.parameters] } : {};
  if (outcome.executionMode === 'nonQuery') {
    return { rowsAffected: outcome.affected ?? outcome.rows.length, size: 0, ...parameters };
  }
  const { columns, rows } = outcome.executionMode === 'scalar' ? scalarRows(outcome) : outcome;
  const json = Buffer.from(JSON.stringify(toRecords(columns, rows)), 'utf8');
  return { rows: rows.length, size: json.byteLength, data: json.toString('base64'), ...parameters };
}

/** A scalar answers the first cell of the first row, as a one-row, one-column reader result. */
function scalarRows(outcome: RowsOutcome): { columns: readonly ColumnInfo[]; rows: readonly (readonly Cell[])[] } {
  const first = outcome.columns[0];
  const row = outcome.rows[0];
  if (!first || !row) return { columns: outcome.columns.slice(0, 1), rows: [] };
  return { columns: [first], rows: [[row[0] ?? null]] };
}

/** Row arrays to objects keyed by column name; a column named `__proto__` stays an ordinary key. */
export function toRecords(columns: readonly ColumnInfo[], rows: readonly (readonly Cell[])[]): Record<string, Cell>[] {
  return rows.map((row) => Object.fromEntries(columns.map((column, i) => [column.name, row[i] ?? null])));
}
