import type { Cell, ColumnInfo, ExecutionMode, NonQueryResult, ReaderResult, ResultParameter } from '@halo/contracts';

/** What a finished query produced, whatever ran it (immediate, async, registered). */
export interface RowsOutcome {
  executionMode: ExecutionMode;
  columns: readonly ColumnInfo[];
  /** The rows as the UTF-8 JSON array of row objects, as the agent encoded them. */
  json: Buffer;
  rowCount: number;
  /** Rows affected, for nonQuery. */
  affected?: number;
  /** Output, inputOutput and returnValue parameters with their values. */
  parameters?: readonly ResultParameter[];
}

/**
 * Halo's result object: reader (and scalar: its first cell as the one row) `{rows, size, data, parameters?}`,
 * where `data` is base64 of the UTF-8 JSON array of row objects and `size` its byte length before base64;
 * nonQuery `{rowsAffected, size, parameters?}`. The reader's `data` is the agent's bytes, base64'd once.
 */
export function toHaloResult(outcome: RowsOutcome): ReaderResult | NonQueryResult {
  const parameters = outcome.parameters?.length ? { parameters: [...outcome.parameters] } : {};
  if (outcome.executionMode === 'nonQuery') {
    return { rowsAffected: outcome.affected ?? outcome.rowCount, size: 0, ...parameters };
  }
  const { json, rows } = outcome.executionMode === 'scalar' ? scalarJson(outcome) : { json: outcome.json, rows: outcome.rowCount };
  return { rows, size: json.byteLength, data: json.toString('base64'), ...parameters };
}

/**
 * A scalar answers the first cell of the first row, as a one-row, one-column reader result. The one place a
 * result is parsed: a scalar's is one row (the agent stops after it).
 */
function scalarJson(outcome: RowsOutcome): { json: Buffer; rows: number } {
  const first = outcome.columns[0];
  const records = outcome.rowCount > 0 ? (JSON.parse(outcome.json.toString('utf8')) as Record<string, Cell>[]) : [];
  const record = records[0];
  if (!first || !record) return { json: Buffer.from('[]'), rows: 0 };
  return { json: Buffer.from(`[{${JSON.stringify(first.name)}:${JSON.stringify(record[first.name] ?? null)}}]`, 'utf8'), rows: 1 };
}
