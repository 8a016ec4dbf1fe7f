import { z } from 'zod';
import { ErrorCodes } from './errors.ts';
import { Guid } from './identifiers.ts';
import { QueryCommand } from './query.ts';

/**
 * Registered queries (Halo's "registered queries"): a command the workers run at a site every `frequency`
 * seconds for `duration` seconds. The facade writes the record to KV `registered_queries` and publishes tick 0
 * on the `REGISTERED_TICKS` work-queue stream; the worker that runs a tick records its outcome and publishes the
 * next one. Everything both sides must agree on lives here.
 */
export const REGISTERED_LIMITS = {
  /** Halo's minimum frequency (seconds); the operator may lower it (HALO_REGISTERED_MIN_FREQUENCY_SECONDS). */
  defaultMinFrequencySeconds: 60,
  /** Halo's default frequency when the body leaves it out. */
  defaultFrequencySeconds: 60,
  /** Longest a registered query runs (seconds): 24 h. */
  maxDurationSeconds: 86_400,
  /** Largest result (JSON bytes) a registered query may keep; beyond it the tick fails with result_too_large. */
  maxResultBytes: 16 * 1024 * 1024,
  /** How long a finished (completed, cancelled) registered query and its last result stay readable. */
  retentionMs: 24 * 60 * 60 * 1000,
} as const;

/** JetStream names shared by the facade (creates, reads, cancels) and the workers (run ticks, record outcomes). */
export const REGISTERED_NAMES = {
  /** KV bucket: `<siteId>.<id>` -> RegisteredQueryRecord. */
  queries: 'registered_queries',
  /** Object store: `<id>` -> the last result (RegisteredQueryResult JSON). */
  results: 'registered_results',
  /** Work-queue stream of ticks. */
  tickStream: 'REGISTERED_TICKS',
  /** The workers' shared durable pull consumer of ticks. */
  tickConsumer: 'registered-ticks',
} as const;

const TOKEN = /^[A-Za-z0-9_-]+$/;
function token(kind: string, value: string): string {
  if (!TOKEN.test(value)) throw new TypeError(`invalid ${kind} subject token`);
  return value;
}

/** Subjects of registered queries and webhooks (JetStream streams only; nothing subscribes to them directly). */
export const registeredSubjects = {
  /** One tick of one registered query. */
  tick: (siteId: string, id: string) => `halo.v1.rq.tick.${token('site', siteId)}.${token('registered query', id)}`,
  tickAll: () => 'halo.v1.rq.tick.>',
  /** Webhook events of one integrator (`integratorToken`: its base64url id). */
  webhook: (integratorToken: string) => `halo.v1.wh.${token('integrator', integratorToken)}`,
  webhookAll: () => 'halo.v1.wh.*',
} as const;

/** KV key of a registered query: site first, so one site's queries are one key filter. */
export function registeredKey(siteId: string, id: string): string {
  return `${token('site', siteId)}.${token('registered query', id)}`;
}

/** KV key filter of every registered query of one site. */
export function registeredSiteKeys(siteId: string): string {
  return `${token('site', siteId)}.*`;
}

export const REGISTERED_STATUSES = ['enabled', 'cancelled', 'completed', 'initialisationFailedCacheError'] as const;
export const RegisteredQueryStatus = z.enum(REGISTERED_STATUSES);
export type RegisteredQueryStatus = z.infer<typeof RegisteredQueryStatus>;

/** Body of `POST /integrator/sites/{siteId}/queries/registered` (Halo's shape). */
export const RegisteredQueryBody = z.object({
  name: z.string().min(1).max(256),
  registeredQueryType: z.literal('query'),
  /** Seconds between runs; at least the operator's minimum (Halo: 60). */
  frequency: z.number().int().positive().max(REGISTERED_LIMITS.maxDurationSeconds).default(REGISTERED_LIMITS.defaultFrequencySeconds),
  /** Seconds the query keeps running, at most 86400. */
  duration: z.number().int().positive().max(REGISTERED_LIMITS.maxDurationSeconds),
  catalogue: z.string().min(1).max(128).optional(),
  registerCommand: z.object({ command: QueryCommand }).strict(),
}).strict();
export type RegisteredQueryBody = z.infer<typeof RegisteredQueryBody>;

/** Halo's `lastErrorDetails`, with our stable `code` beside it. */
export const RegisteredErrorDetails = z.object({
  errorType: z.enum(['http', 'mssql', 'fbsql', 'haloLink']),
  errorCode: z.number().int(),
  errorMessage: z.string(),
  code: z.enum(ErrorCodes),
});
export type RegisteredErrorDetails = z.infer<typeof RegisteredErrorDetails>;

export const RegisteredQueryMetrics = z.object({
  lastSucceededAt: z.string().optional(),
  lastFailedAt: z.string().optional(),
  /** Milliseconds the last run took at the database. */
  lastExecutionDuration: z.number().int().nonnegative().optional(),
  executionSucceededCount: z.number().int().nonnegative(),
  executionFailedCount: z.number().int().nonnegative(),
  /** Sum of the result sizes (JSON bytes) of every successful run. */
  resultSizeSum: z.number().int().nonnegative(),
  /** Bytes of the registration request's command. */
  requestSize: z.number().int().nonnegative(),
});
export type RegisteredQueryMetrics = z.infer<typeof RegisteredQueryMetrics>;

/** KV `registered_queries` value. The command (query text) is only here and never in an answer. */
export const RegisteredQueryRecord = z.object({
  id: Guid,
  integratorId: z.string().min(1).max(128),
  siteId: Guid,
  name: z.string(),
  frequency: z.number().int().positive(),
  duration: z.number().int().positive(),
  catalogue: z.string().max(128).optional(),
  command: QueryCommand,
  status: RegisteredQueryStatus,
  /** Epoch ms; tick n is due at createdAt + n * frequency s, while n * frequency <= duration. */
  createdAt: z.number().int().positive(),
  completedAt: z.number().int().positive().optional(),
  /** The last tick whose outcome is recorded (-1: none yet); a tick is recorded once, by compare-and-set. */
  lastTick: z.number().int().min(-1),
  /** Base64 SHA-256 of the last successful result's data. */
  lastHash: z.string().optional(),
  /** The tick at which lastHash last changed (its webhook event is published again if that tick is redelivered). */
  lastHashTick: z.number().int().nonnegative().optional(),
  /** Ticks not run because every worker was away when they were due (the schedule resumes at the next one). */
  skippedTicks: z.number().int().nonnegative().default(0),
  lastErrorDetails: RegisteredErrorDetails.optional(),
  metrics: RegisteredQueryMetrics,
});
export type RegisteredQueryRecord = z.infer<typeof RegisteredQueryRecord>;

/** One registered query as Halo answers it (`GET .../queries/registered/{id}`). */
export const RegisteredQueryView = z.object({
  id: Guid,
  name: z.string(),
  registeredQueryType: z.literal('query'),
  status: RegisteredQueryStatus,
  frequency: z.number().int(),
  duration: z.number().int(),
  lastHash: z.string().optional(),
  lastErrorDetails: RegisteredErrorDetails.optional(),
  metrics: RegisteredQueryMetrics,
  createdAt: z.string(),
  completedAt: z.string().optional(),
});
export type RegisteredQueryView = z.infer<typeof RegisteredQueryView>;

/** `GET .../queries/registered`: the integrator's enabled registered queries at the site. */
export const RegisteredQueryList = z.object({ registeredQueries: z.array(RegisteredQueryView) });
export type RegisteredQueryList = z.infer<typeof RegisteredQueryList>;

/** `POST .../queries/registered` answers 202 with the new id. */
export const RegisteredQueryCreated = z.object({ id: Guid });
export type RegisteredQueryCreated = z.infer<typeof RegisteredQueryCreated>;

/**
 * The last result (`GET .../registered/{id}/results`), Halo's shape: `data` is base64 of the UTF-8 JSON array of
 * row objects, `rows` their count, `size` the JSON's bytes; `parameters` the output parameters, or null.
 */
export const RegisteredQueryResult = z.object({
  data: z.string(),
  parameters: z.array(z.record(z.string(), z.unknown())).nullable(),
  rows: z.number().int().nonnegative(),
  size: z.number().int().nonnegative(),
});
export type RegisteredQueryResult = z.infer<typeof RegisteredQueryResult>;

/** A tick message: run registered query `id` for the `tick`-th time once `dueAt` (epoch ms) has come. */
export const RegisteredTick = z.object({
  id: Guid,
  siteId: Guid,
  tick: z.number().int().nonnegative(),
  dueAt: z.number().int().positive(),
});
export type RegisteredTick = z.infer<typeof RegisteredTick>;

/** When tick `n` of `record` is due; null when the schedule has no tick `n` (it ended at `duration`). */
export function tickDueAt(record: Pick<RegisteredQueryRecord, 'createdAt' | 'frequency' | 'duration'>, n: number): number | null {
  if (n * record.frequency > record.duration) return null;
  return record.createdAt + n * record.frequency * 1000;
}
