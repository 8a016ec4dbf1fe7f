import { z } from 'zod';
import { Guid } from './identifiers.ts';

/** SQL Server's SqlDbType names, which integrators already use; each engine maps them. */
export const SQL_DB_TYPES = [
  'BigInt', 'Binary', 'Bit', 'Char', 'Date', 'DateTime', 'DateTime2', 'DateTimeOffset', 'Decimal', 'Float',
  'Image', 'Int', 'Money', 'NChar', 'NText', 'NVarChar', 'Real', 'SmallDateTime', 'SmallInt', 'SmallMoney',
  'Text', 'Time', 'TinyInt', 'UniqueIdentifier', 'VarBinary', 'VarChar', 'Xml',
] as const;
export type SqlDbType = (typeof SQL_DB_TYPES)[number];

/**
 * Names of Halo's parameter `type` that are not SqlDbType members or that no engine here binds: `String` is
 * .NET's DbType.String, sent as NVarChar; the others are refused, the message naming the type.
 */
export const SQL_DB_TYPE_ALIASES: Readonly<Record<string, SqlDbType>> = { String: 'NVarChar' };
export const UNSUPPORTED_SQL_DB_TYPES = ['Structured', 'Timestamp', 'Udt', 'Variant'] as const;

/** Every `type` name of Halo's parameter schema (SqlDbType plus Halo's `String`). */
export const HALO_PARAMETER_TYPES = [...SQL_DB_TYPES, 'String', ...UNSUPPORTED_SQL_DB_TYPES] as const;

/** A parameter's type: a SqlDbType name (or `String`, read as NVarChar); an unsupported name is refused by name. */
export const SqlDbType = z.enum(HALO_PARAMETER_TYPES).transform((name, ctx): SqlDbType => {
  const known = (SQL_DB_TYPES as readonly string[]).includes(name) ? (name as SqlDbType) : SQL_DB_TYPE_ALIASES[name];
  if (known !== undefined) return known;
  // The type name is schema vocabulary, not data, so the message may name it (never the parameter's value).
  ctx.addIssue({ code: 'custom', message: `parameter type "${name}" is not supported` });
  return z.NEVER;
});

/** Halo's parameter directions; `input` is the default. Output directions need a stored procedure. */
export const ParameterDirection = z.enum(['input', 'output', 'inputOutput', 'returnValue']);
export type ParameterDirection = z.infer<typeof ParameterDirection>;

/** A parameter as it comes back in `result.parameters`: output values as strings, as Halo sends them. */
export const ResultParameter = z.object({
  name: z.string(),
  direction: ParameterDirection,
  type: z.string(),
  value: z.string().nullable(),
  size: z.number().int().optional(),
});
export type ResultParameter = z.infer<typeof ResultParameter>;

export const LIMITS = {
  /** Longest SQL text accepted, in characters. */
  maxSqlLength: 100_000,
  maxParameters: 2_100,
  maxParameterValueLength: 1_000_000,
  /** Immediate queries may wait at most this long for a slot at the agent (ms, as Halo). */
  maxImmediateTimeInQueueMs: 60_000,
  defaultImmediateTimeInQueueMs: 30_000,
} as const;

export const QueryParameter = z.object({
  name: z.string().regex(/^@?[A-Za-z_][A-Za-z0-9_]{0,127}$/, 'must be a parameter name such as "@patNum"'),
  direction: ParameterDirection.default('input'),
  type: SqlDbType,
  value: z.string().max(LIMITS.maxParameterValueLength).nullable(),
  size: z.number().int().nonnegative().optional(),
  /** Decimal only: total digits (1-38) and digits after the point, as SqlParameter.Precision / Scale. */
  precision: z.number().int().min(1).max(38).optional(),
  scale: z.number().int().min(0).max(38).optional(),
}).refine((p) => p.scale === undefined || p.precision === undefined || p.scale <= p.precision, {
  message: 'scale must not exceed precision', path: ['scale'],
});
export type QueryParameter = z.infer<typeof QueryParameter>;

export const ExecutionMode = z.enum(['reader', 'scalar', 'nonQuery']);
export type ExecutionMode = z.infer<typeof ExecutionMode>;

export const QueryCommand = z.object({
  text: z.string().min(1).max(LIMITS.maxSqlLength),
  type: z.enum(['text', 'storedProcedure']).default('text'),
  executionMode: ExecutionMode.default('reader'),
  parameters: z.array(QueryParameter).max(LIMITS.maxParameters).default([]),
}).strict();
export type QueryCommand = z.infer<typeof QueryCommand>;

/** Body of `POST /integrator/sites/{siteId}/queries/immediate`. */
export const ImmediateQueryBody = z.object({
  /** Milliseconds the query may wait for a slot at the agent (Halo: 0..60000, default 30000). */
  maxTimeInQueue: z.number().int().nonnegative().max(LIMITS.maxImmediateTimeInQueueMs).optional(),
  catalogue: z.string().min(1).max(128).optional(),
  command: QueryCommand,
}).strict();
export type ImmediateQueryBody = z.infer<typeof ImmediateQueryBody>;

/** A query as it travels from requester to agent (§4). */
export const QueryRequest = z.object({
  queryId: Guid,
  haloGuid: Guid,
  mode: z.enum(['immediate', 'async']),
  catalogue: z.string().max(128).optional(),
  command: QueryCommand,
  /** Epoch milliseconds after which the requester has given up. */
  deadline: z.number().int().positive(),
  maxTimeInQueueMs: z.number().int().nonnegative(),
});
export type QueryRequest = z.infer<typeof QueryRequest>;

export const ColumnInfo = z.object({ name: z.string(), type: z.string() });
export type ColumnInfo = z.infer<typeof ColumnInfo>;

/** JSON-safe cell: bigint and decimals travel as strings, binary as base64. */
export type Cell = string | number | boolean | null;

export const QueryTimings = z.object({ queuedMs: z.number().nonnegative(), executionMs: z.number().nonnegative() });
export type QueryTimings = z.infer<typeof QueryTimings>;

/** A whole result in one message (results over one message are the chunk protocol's job). */
export const QueryResult = z.object({
  columns: z.array(ColumnInfo),
  rows: z.array(z.array(z.union([z.string(), z.number(), z.boolean(), z.null()]))),
  rowCount: z.number().int().nonnegative(),
  /** Bytes of the serialised rows. */
  bytes: z.number().int().nonnegative(),
  /** Rows affected, for nonQuery. */
  affected: z.number().int().nonnegative().optional(),
  timings: QueryTimings,
  /** A stored procedure's output, inputOutput and returnValue parameters with their values. */
  parameters: z.array(ResultParameter).optional(),
});
export type QueryResult = z.infer<typeof QueryResult>;

/** Headers a query request carries (§4). */
export const QueryHeaders = {
  queryId: 'Halo-Query-Id',
  deadline: 'Halo-Deadline',
} as const;
