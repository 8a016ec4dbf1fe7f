import { readFileSync } from 'node:fs';
import { isAbsolute, dirname, resolve } from 'node:path';
import { z } from 'zod';
import { Environment } from '@halo/contracts';
import { MssqlProfileOptions } from '@halo/pms';
import type { DatabaseConfig } from '@halo/pms';

// Fields every database entry has, whatever its engine.
const DatabaseCommon = z.object({
  /** Stable local name; the Halo GUID is bound to it in the state directory. */
  name: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'letters, digits, _ . - only'),
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
  /**
   * Memory one statement may take: SQLite, its worker process's resident memory (each running statement has its
   * own process, so a database takes at most maxConcurrency x this); MariaDB, its session's max_session_mem_used.
   * Past it the statement fails with resource_limit_exceeded (413). PostgreSQL and SQL Server: not enforced.
   */
  maxMemoryMiB: z.number().int().min(128).max(65_536).default(256), // a worker alone takes ~60 MiB
  /** Largest row (JSON bytes) a statement may return, on every engine; a larger one fails with resource_limit_exceeded. */
  maxRowMiB: z.number().int().min(1).max(1024).default(32),
  /** How long the PMS's "integration enabled" answer is trusted before it is read again (at most 60 s). */
  integrationCheckSeconds: z.number().min(0).max(60).default(60),
});

/** A SQLite database file. */
export const SqliteDatabaseEntry = DatabaseCommon.extend({
  engine: z.literal('sqlite'),
  path: z.string().min(1),
  /** How long the worker process that runs this database's statements stays after its last one. */
  workerIdleSeconds: z.number().min(1).max(3_600).default(60),
}).strict();

// A database server login. The password is never in this file: it comes from a file (readable by the agent's
// service account only) or an environment variable, read when a connection opens, and is never logged.
const ServerFields = {
  host: z.string().min(1).max(255),
  port: z.number().int().min(1).max(65_535).optional(),
  database: z.string().min(1).max(128),
  user: z.string().min(1).max(128),
  passwordFile: z.string().min(1).optional(),
  passwordEnv: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'an environment variable name').optional(),
  /** TLS to the server: true, or a CA file and whether to verify the certificate. */
  ssl: z.union([z.boolean(), z.object({ caFile: z.string().min(1).optional(), rejectUnauthorized: z.boolean().optional() }).strict()]).optional(),
};
const onePasswordSource = (entry: { passwordFile?: string | undefined; passwordEnv?: string | undefined }) => !(entry.passwordFile && entry.passwordEnv);
const ONE_SOURCE = { message: 'give passwordFile or passwordEnv, not both' };

/** A PostgreSQL database. */
export const PostgresDatabaseEntry = DatabaseCommon.extend({ engine: z.literal('postgres'), ...ServerFields }).strict().refine(onePasswordSource, ONE_SOURCE);

/** A MySQL or MariaDB database. */
export const MysqlDatabaseEntry = DatabaseCommon.extend({ engine: z.literal('mysql'), ...ServerFields }).strict().refine(onePasswordSource, ONE_SOURCE);

/**
 * A SQL Server database: a fixed `port`, or a named `instanceName` found through SQL Browser (UDP 1434); SQL login
 * or NTLM (`authentication: 'ntlm'` with `domain`); TLS on by default. `profileOptions` configure the bp / zedmed /
 * d4w profiles' identity and enablement queries (see @halo/pms MssqlProfileOptions).
 */
export const MssqlDatabaseEntry = DatabaseCommon.extend({
  engine: z.literal('mssql'),
  host: z.string().min(1).max(255),
  port: z.number().int().min(1).max(65_535).optional(),
  instanceName: z.string().regex(/^[A-Za-z0-9_$#-]{1,16}$/, 'a SQL Server instance name').optional(),
  database: z.string().min(1).max(128),
  authentication: z.enum(['sql', 'ntlm']).default('sql'),
  domain: z.string().min(1).max(255).optional(),
  user: z.string().min(1).max(128),
  passwordFile: z.string().min(1).optional(),
  passwordEnv: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'an environment variable name').optional(),
  encrypt: z.union([z.boolean(), z.literal('strict')]).default(true),
  trustServerCertificate: z.boolean().default(false),
  connectTimeoutMs: z.number().int().positive().max(300_000).optional(),
  profileOptions: MssqlProfileOptions.optional(),
}).strict()
  .refine(onePasswordSource, ONE_SOURCE)
  .refine((entry) => !(entry.port !== undefined && entry.instanceName !== undefined), { message: 'give port or instanceName, not both' })
  .refine((entry) => entry.authentication !== 'ntlm' || entry.domain !== undefined, { message: 'NTLM authentication needs a domain' });

/** One PMS database this agent serves, by engine. */
export const DatabaseEntry = z.discriminatedUnion('engine', [SqliteDatabaseEntry, PostgresDatabaseEntry, MysqlDatabaseEntry, MssqlDatabaseEntry]);
export type DatabaseEntry = z.infer<typeof DatabaseEntry>;

/** What openConnector needs from an entry: its engine and connection fields and limits, without the agent's own settings. */
export function connectorConfig(entry: DatabaseEntry): DatabaseConfig {
  const {
    name: _name, profile: _profile, maxConcurrency: _c, executionTimeoutSeconds: _t, maxRows: _r, maxBytes: _b,
    maxMemoryMiB, maxRowMiB, ...connection
  } = entry;
  if (connection.engine === 'sqlite') {
    const { workerIdleSeconds, ...sqlite } = connection;
    return { ...sqlite, workerIdleMs: workerIdleSeconds * 1000, maxMemoryBytes: maxMemoryMiB * 1024 ** 2, maxRowBytes: maxRowMiB * 1024 ** 2 };
  }
  return { ...connection, maxMemoryBytes: maxMemoryMiB * 1024 ** 2, maxRowBytes: maxRowMiB * 1024 ** 2 };
}

/** ws:// or wss://: a leafnode remote over the hub's WebSocket listener. */
export function isWebSocketUrl(url: string): boolean {
  return /^wss?:\/\//.test(url);
}

/** The agent's config file (JSON). */
export const AgentConfig = z.object({
  env: Environment.default('production'),
  stateDir: z.string().min(1),
  /**
   * Every hub node's leafnode URL, e.g. nats-leaf://hub-1.example:7422 (the leaf fails over between them), or
   * their WebSocket URLs (wss://hub-1.example:443) where the practice's firewall lets out HTTPS only; not both kinds.
   * With enrolment, default the ones its answer gave.
   */
  hubLeafUrls: z.array(z.string().regex(/^(nats-leaf|tls|nats|wss|ws):\/\/\S+$/, 'must be a nats-leaf://, tls:// or wss:// URL')).min(1)
    .refine((urls) => new Set(urls.map(isWebSocketUrl)).size === 1, 'give leafnode URLs or WebSocket (wss://) URLs, not both').optional(),
  /** An HTTP proxy the leaf reaches the hub through (CONNECT); with wss:// hub URLs only. */
  hubProxy: z.object({
    url: z.string().regex(/^https?:\/\/\S+$/, 'must be an http:// URL'),
    username: z.string().min(1).optional(),
    password: z.string().min(1).optional(),
  }).strict().optional(),
  /** Reported to the registry instead of the build's version (tests); default the version of this build. */
  version: z.string().max(64).optional(),
  heartbeatSeconds: z.number().min(0.1).max(300).default(10),
  /** Longest an immediate / async query may wait for a slot, whatever the request asks. */
  maxImmediateTimeInQueueSeconds: z.number().positive().max(60).default(60),
  maxAsyncTimeInQueueSeconds: z.number().positive().max(7_200).default(7_200),
  /** A requester that grants no credit for this long is gone: the statement is stopped. */
  stallSeconds: z.number().positive().max(600).default(30),
  /** At shutdown, how long queries in flight may take to finish before the databases are closed under them. */
  shutdownGraceSeconds: z.number().min(0).max(300).default(10),
  databases: z.array(DatabaseEntry).min(1).max(1000).refine((dbs) => new Set(dbs.map((d) => d.name)).size === dbs.length, 'database names must be unique'),
  /**
   * Operator/JWT mode: on first start the agent generates its nkey and enrols at `url` (the facade, `POST /enrol`)
   * with the one-time `token` support issued; `caFile` verifies the facade's HTTPS certificate.
   */
  enrolment: z.object({ url: z.string().url(), token: z.string().min(1), caFile: z.string().min(1).optional() }).strict().optional(),
  /** Auto-update (`halo-link update`, run by the update timer): the signed release manifest's URL. */
  update: z.object({
    manifestUrl: z.string().url(),
    caFile: z.string().min(1).optional(),
    /** How long a new version has to register and send its first heartbeat before it is rolled back. */
    healthTimeoutSeconds: z.number().min(5).max(3_600).default(120),
  }).strict().optional(),
  /** CA of the hub's leafnode TLS certificate; default the enrolment answer's, else enrolment.caFile. */
  hubCaFile: z.string().min(1).optional(),
}).strict().refine((c) => c.enrolment !== undefined || c.hubLeafUrls !== undefined, {
  message: 'give hubLeafUrls, or enrolment (whose answer names the hub)', path: ['hubLeafUrls'],
}).refine((c) => !c.hubProxy || (c.hubLeafUrls ?? []).every(isWebSocketUrl), {
  // nats-server 2.12 tunnels WebSocket remotes only through a proxy.
  message: 'hubProxy needs wss:// hubLeafUrls', path: ['hubProxy'],
});
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
  const { enrolment, hubCaFile } = parsed.data;
  return {
    ...parsed.data,
    stateDir: abs(parsed.data.stateDir),
    databases: parsed.data.databases.map((d) => absolutePaths(d, abs)),
    ...(enrolment ? { enrolment: { ...enrolment, ...(enrolment.caFile ? { caFile: abs(enrolment.caFile) } : {}) } } : {}),
    ...(hubCaFile ? { hubCaFile: abs(hubCaFile) } : {}),
  };
}

/** The entry with its file paths (database file, password file, CA file) taken from the config file's folder. */
function absolutePaths(entry: DatabaseEntry, abs: (path: string) => string): DatabaseEntry {
  if (entry.engine === 'sqlite') return { ...entry, path: abs(entry.path) };
  if (entry.engine === 'mssql') return { ...entry, ...(entry.passwordFile === undefined ? {} : { passwordFile: abs(entry.passwordFile) }) };
  return {
    ...entry,
    ...(entry.passwordFile === undefined ? {} : { passwordFile: abs(entry.passwordFile) }),
    ...(typeof entry.ssl === 'object' && entry.ssl.caFile !== undefined ? { ssl: { ...entry.ssl, caFile: abs(entry.ssl.caFile) } } : {}),
  };
}
