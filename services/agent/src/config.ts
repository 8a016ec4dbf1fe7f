import { readFileSync } from 'node:fs';
import { isAbsolute, dirname, resolve } from 'node:path';
import { z } from 'zod';
import { Environment } from '@halo/contracts';

/** One PMS database this agent serves. */
export const DatabaseEntry = z.object({
  /** Stable local name; the Halo GUID is bound to it in the state directory. */
  name: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'letters, digits, _ . - only'),
  engine: z.literal('sqlite'),
  path: z.string().min(1),
  /** PMS profile (PMS type code) that knows how to read identity from this database. */
  profile: z.string().min(1),
  allowWrites: z.boolean().default(false),
  /** Statements running at once on this database; more wait in a queue, immediate before async. */
  maxConcurrency: z.number().int().min(1).max(64).default(4),
  /** Longest a statement may run once it has left the queue. */
  executionTimeoutSeconds: z.number().positive().max(86_400).default(600),
  /** Most rows / JSON bytes one result may have (refused with row_limit_exceeded / byte_limit_exceeded). */
  maxRows: z.number().int().positive().default(10_000_000),
  maxBytes: z.number().int().positive().default(4 * 1024 ** 3),
}).strict();
export type DatabaseEntry = z.infer<typeof DatabaseEntry>;

/** The agent's config file (JSON). */
export const AgentConfig = z.object({
  env: Environment.default('production'),
  stateDir: z.string().min(1),
  /** The hub's leafnode URLs, e.g. nats-leaf://hub.example:7422. */
  hubLeafUrls: z.array(z.string().regex(/^(nats-leaf|tls|nats):\/\/\S+$/, 'must be a nats-leaf:// or tls:// URL')).min(1),
  version: z.string().max(64).default('0.1.0'),
  heartbeatSeconds: z.number().min(0.1).max(300).default(10),
  /** Longest an immediate / async query may wait for a slot, whatever the request asks. */
  maxImmediateTimeInQueueSeconds: z.number().positive().max(60).default(60),
  maxAsyncTimeInQueueSeconds: z.number().positive().max(7_200).default(7_200),
  /** A requester that grants no credit for this long is gone: the statement is stopped. */
  stallSeconds: z.number().positive().max(600).default(30),
  databases: z.array(DatabaseEntry).min(1).max(1000).refine((dbs) => new Set(dbs.map((d) => d.name)).size === dbs.length, 'database names must be unique'),
}).strict();
export type AgentConfig = z.infer<typeof AgentConfig>;
export type AgentConfigInput = z.input<typeof AgentConfig>;

/** Thrown for an unreadable or invalid config file, naming each problem. */
export class AgentConfigError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'AgentConfigError';
  }
}

/** Reads and validates the config file; relative paths in it are taken from the file's folder. */
export function loadAgentConfig(path: string): AgentConfig {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (cause) {
    throw new AgentConfigError(`cannot read agent config ${path}: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
  }
  const parsed = AgentConfig.safeParse(raw);
  if (!parsed.success) {
    throw new AgentConfigError(`invalid agent config ${path}:\n  ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('\n  ')}`);
  }
  const base = dirname(resolve(path));
  const abs = (p: string) => (isAbsolute(p) ? p : resolve(base, p));
  return { ...parsed.data, stateDir: abs(parsed.data.stateDir), databases: parsed.data.databases.map((d) => ({ ...d, path: abs(d.path) })) };
}
