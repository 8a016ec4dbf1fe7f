import { AppError, type AsyncQueryRecord, type Cell, type ErrorDetails, type ExecutionMode, type ImmediateQueryFailed, type ImmediateQuerySuccessful, type RecordsResult } from '@halo/contracts';
import type { JsonResult } from '../nats/json-result.ts';
import { toHaloResult } from './halo-result.ts';
import { errorBody } from './error-handler.ts';

/** How rows are returned: Halo's base64 `data` (default), or our opt-in `records` (columns and row objects). */
export type ResultFormat = 'halo' | 'records';

/** What every immediate query answer says about the request, success or not. */
export interface ImmediateRequestFacts {
  queryId: string;
  integratorId: string;
  siteId: string;
  /** Milliseconds. */
  maxTimeInQueue: number;
  commandSize: number;
  requestSize: number;
  /** Epoch ms the request arrived. */
  receivedAt: number;
}

export interface QueryOutcome extends ImmediateRequestFacts {
  executionMode: ExecutionMode;
  format: ResultFormat;
  result: JsonResult;
  /** Epoch ms when the result arrived. */
  finishedAt: number;
}

const iso = (ms: number): string => new Date(ms).toISOString();

/** Halo's `commandSize` (bytes of the command's JSON) and `requestSize` (bytes of the body as sent). */
export function querySizes(body: { command: unknown }, contentLength: string | undefined): { commandSize: number; requestSize: number } {
  const sent = Number(contentLength);
  return { commandSize: Buffer.byteLength(JSON.stringify(body.command)), requestSize: Number.isSafeInteger(sent) ? sent : Buffer.byteLength(JSON.stringify(body)) };
}

/** Builds Halo's immediate query answer; the execution's start is reconstructed from the agent's timings. */
export function toQueryResponse(outcome: QueryOutcome): ImmediateQuerySuccessful {
  const { result } = outcome;
  const executing = outcome.finishedAt - result.timings.executionMs;
  const halo = outcome.format === 'records' && outcome.executionMode !== 'nonQuery' ? recordsResult(result) : toHaloResult({
    executionMode: outcome.executionMode,
    columns: result.columns,
    json: result.json,
    rowCount: result.rowCount,
    ...(result.affected !== undefined ? { affected: result.affected } : {}),
    ...(result.parameters ? { parameters: result.parameters } : {}),
  });
  return {
    ...queryBase(outcome),
    status: 'successful',
    updatedAt: iso(outcome.finishedAt),
    completedAt: iso(outcome.finishedAt),
    statusTiming: {
      initialising: { startTime: iso(outcome.receivedAt), endTime: iso(executing) },
      executing: { startTime: iso(executing), endTime: iso(outcome.finishedAt) },
    },
    metrics: { sqlExecutionDuration: Math.round(result.timings.executionMs) },
    result: halo,
    resultSize: halo.size,
  };
}

/**
 * Halo's answer when the database refused the statement: the query object with `status: executionFailed` and
 * `errorDetails`, plus the `error` every error body carries (with our stable `code`).
 */
export function toFailedQueryResponse(facts: ImmediateRequestFacts, error: AppError, failedAt: number): ImmediateQueryFailed {
  const errorDetails = toErrorDetails(error);
  return {
    ...queryBase(facts),
    status: 'executionFailed',
    updatedAt: iso(failedAt),
    completedAt: iso(failedAt),
    statusTiming: { initialising: { startTime: iso(facts.receivedAt), endTime: iso(failedAt) } },
    errorDetails,
    error: errorBody(error).error,
  };
}

/** Halo's errorDetails: `mssql` with SQL Server's error number when SQL Server refused the statement, else `haloLink`. */
export function toErrorDetails(error: { message: string; sqlServerError?: number | undefined }): ErrorDetails {
  return error.sqlServerError === undefined
    ? { errorType: 'haloLink', errorMessage: error.message }
    : { errorType: 'mssql', errorCode: error.sqlServerError, errorMessage: error.message };
}

/**
 * The record kept of a finished immediate query (no rows), so `GET .../queries/{id}` answers for it as Halo's
 * does; `toImmediateStatus` renders it.
 */
export function immediateRecord(facts: ImmediateRequestFacts, linkGuid: string, executionMode: ExecutionMode,
  end: { result: JsonResult; resultSize: number; at: number } | { error: AppError; at: number }): AsyncQueryRecord {
  const base = {
    id: facts.queryId, integratorId: facts.integratorId, siteId: facts.siteId, linkGuid, executionMode, mode: 'immediate' as const,
    createdAt: facts.receivedAt, queueDeadline: facts.receivedAt + facts.maxTimeInQueue, attempts: 1,
    commandSize: facts.commandSize, requestSize: facts.requestSize,
  };
  if ('error' in end) {
    return { ...base, state: 'executionFailed', statusTiming: { initialising: iso(facts.receivedAt), executionFailed: iso(end.at) }, error: { code: end.error.code, message: end.error.message, ...(end.error.sqlServerError === undefined ? {} : { sqlServerError: end.error.sqlServerError }) } };
  }
  const executing = end.at - end.result.timings.executionMs;
  return {
    ...base,
    state: 'successful',
    statusTiming: { initialising: iso(facts.receivedAt), executing: iso(executing), successful: iso(end.at) },
    rowCount: end.result.rowCount,
    size: end.resultSize,
    metrics: { queuedDuration: end.result.timings.queuedMs, sqlExecutionDuration: end.result.timings.executionMs },
  };
}

/** An immediate query's status from its kept record: the answer it had, without the result. */
export function toImmediateStatus(record: AsyncQueryRecord): Omit<ImmediateQuerySuccessful, 'result'> | ImmediateQueryFailed {
  const facts: ImmediateRequestFacts = {
    queryId: record.id, integratorId: record.integratorId, siteId: record.siteId, maxTimeInQueue: record.queueDeadline - record.createdAt,
    commandSize: record.commandSize ?? 0, requestSize: record.requestSize ?? 0, receivedAt: record.createdAt,
  };
  const at = (state: keyof AsyncQueryRecord['statusTiming']): number => Date.parse(record.statusTiming[state] ?? iso(record.createdAt));
  if (record.state !== 'successful') {
    const sqlServerError = record.error?.sqlServerError;
    return toFailedQueryResponse(facts, new AppError(record.error?.code ?? 'internal', record.error?.message ?? 'the query failed', sqlServerError === undefined ? undefined : { sqlServerError }), at('executionFailed'));
  }
  const completed = at('successful');
  const executing = at('executing');
  return {
    ...queryBase(facts),
    status: 'successful',
    updatedAt: iso(completed),
    completedAt: iso(completed),
    statusTiming: {
      initialising: { startTime: iso(record.createdAt), endTime: iso(executing) },
      executing: { startTime: iso(executing), endTime: iso(completed) },
    },
    metrics: { sqlExecutionDuration: Math.round(record.metrics?.sqlExecutionDuration ?? 0) },
    resultSize: record.size ?? 0,
  };
}

function queryBase(facts: ImmediateRequestFacts): Omit<ImmediateQuerySuccessful, 'status' | 'statusTiming' | 'metrics' | 'result' | 'resultSize' | 'completedAt' | 'updatedAt'> {
  return {
    id: facts.queryId,
    integratorId: facts.integratorId,
    siteId: facts.siteId,
    mode: 'immediate',
    maxTimeInQueue: facts.maxTimeInQueue,
    commandSize: facts.commandSize,
    requestSize: facts.requestSize,
    createdAt: iso(facts.receivedAt),
  };
}

/**
 * Our opt-in `format=records`: columns and row objects inside the JSON answer. The agent's array is parsed here
 * (the one answer that embeds rows as JSON rather than base64), so a tampered agent's bytes cannot reach outside
 * `records` into the rest of the answer.
 */
function recordsResult(result: JsonResult): RecordsResult {
  return {
    rows: result.rowCount, size: result.json.byteLength, columns: result.columns, records: JSON.parse(result.json.toString('utf8')) as Record<string, Cell>[],
    ...(result.parameters?.length ? { parameters: result.parameters } : {}),
  };
}
