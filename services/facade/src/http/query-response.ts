import type { Cell, ColumnInfo, ExecutionMode, QueryResponse, QueryResult } from '@halo/contracts';

/** How reader rows are returned: `json` as `records`, `base64` as `data` (base64 of the same JSON array). */
export type ResultFormat = 'json' | 'base64';

export interface QueryOutcome {
  queryId: string;
  siteId: string;
  executionMode: ExecutionMode;
  format: ResultFormat;
  result: QueryResult;
  /** Epoch milliseconds when the result arrived. */
  finishedAt: number;
}

/** Builds the Halo-shaped immediate query response; timestamps are reconstructed from the agent's timings. */
export function toQueryResponse(outcome: QueryOutcome): QueryResponse {
  const { result } = outcome;
  const executing = outcome.finishedAt - result.timings.executionMs;
  const queued = executing - result.timings.queuedMs;
  return {
    id: outcome.queryId,
    siteId: outcome.siteId,
    mode: 'immediate',
    executionMode: outcome.executionMode,
    status: 'successful',
    statusTiming: {
      queued: new Date(queued).toISOString(),
      executing: new Date(executing).toISOString(),
      successful: new Date(outcome.finishedAt).toISOString(),
    },
    metrics: { sqlExecutionDuration: result.timings.executionMs, queuedDuration: result.timings.queuedMs },
    result: { rowCount: result.rowCount, size: result.bytes, columns: result.columns, ...payload(outcome) },
  };
}

function payload(outcome: QueryOutcome): Pick<QueryResponse['result'], 'records' | 'data' | 'scalar' | 'affected'> {
  const { result } = outcome;
  switch (outcome.executionMode) {
    case 'scalar':
      return { scalar: result.rows[0]?.[0] ?? null };
    case 'nonQuery':
      return { affected: result.affected ?? result.rowCount };
    case 'reader': {
      const records = toRecords(result.columns, result.rows);
      if (outcome.format === 'base64') return { data: Buffer.from(JSON.stringify(records), 'utf8').toString('base64') };
      return { records };
    }
  }
}

/** Row arrays to objects keyed by column name; a column named `__proto__` stays an ordinary key. */
export function toRecords(columns: readonly ColumnInfo[], rows: readonly (readonly Cell[])[]): Record<string, Cell>[] {
  return rows.map((row) => Object.fromEntries(columns.map((column, i) => [column.name, row[i] ?? null])));
}
