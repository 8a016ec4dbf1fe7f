import { z } from 'zod';

/** Thrown when the environment does not satisfy a service's schema; lists every problem at once. */
export class ConfigError extends Error {
  readonly issues: readonly string[];
  constructor(issues: readonly string[]) {
    super(`invalid configuration:\n  ${issues.join('\n  ')}`);
    this.name = 'ConfigError';
    this.issues = issues;
  }
}

/**
 * Parses environment variables with a zod object schema whose keys are the variable names. Empty strings
 * count as unset, so `FOO=` falls back to the default rather than failing a number parse.
 */
export function loadConfig<S extends z.ZodObject>(schema: S, env: NodeJS.ProcessEnv = process.env): z.infer<S> {
  const input: Record<string, string> = {};
  for (const key of Object.keys(schema.shape)) {
    const value = env[key];
    if (value !== undefined && value !== '') input[key] = value;
  }
  const parsed = schema.safeParse(input);
  if (!parsed.success) {
    throw new ConfigError(parsed.error.issues.map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`));
  }
  return parsed.data;
}

/** A port number from a string, 0 meaning "pick a free one". */
export const Port = z.coerce.number().int().min(0).max(65535);
/** Comma-separated list. */
export const List = z.string().transform((s) => s.split(',').map((x) => x.trim()).filter((x) => x.length > 0));

/** The log levels a service's HALO_LOG_LEVEL may name. */
export const LogLevel = z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']);

export { runService, type RunServiceOptions, type ServiceScope } from './run-service.ts';
export { findProjectRoot, projectRoot } from './project-root.ts';
