import { readFileSync } from 'node:fs';
import { AppError } from '@halo/contracts';

/** How to reach a PostgreSQL or MySQL/MariaDB database; the password comes inline, from a file or from the environment. */
export interface ServerConnectionConfig {
  host: string;
  /** Defaults to 5432 (PostgreSQL) or 3306 (MySQL). */
  port?: number;
  database: string;
  user: string;
  password?: string;
  /** A file holding the password (one trailing newline is ignored). */
  passwordFile?: string;
  /** The name of an environment variable holding the password. */
  passwordEnv?: string;
  /** TLS to the server: true (verify against the system CAs) or options. */
  ssl?: boolean | { caFile?: string; rejectUnauthorized?: boolean };
  /** nonQuery allowed (in a read-write transaction); reader and scalar stay read-only either way. */
  allowWrites?: boolean;
}

/** The password to log in with, read when a connection is opened; errors name the source, never the secret. */
export function resolvePassword(config: ServerConnectionConfig): string | undefined {
  if (config.password !== undefined) return config.password;
  if (config.passwordFile !== undefined) {
    try {
      return readFileSync(config.passwordFile, 'utf8').replace(/\r?\n$/, '');
    } catch (cause) {
      const code = (cause as { code?: unknown }).code;
      throw new AppError('bad_request', `cannot read the database password file ${config.passwordFile}${typeof code === 'string' ? ` (${code})` : ''}`, { cause });
    }
  }
  if (config.passwordEnv !== undefined) {
    const value = process.env[config.passwordEnv];
    if (value === undefined) throw new AppError('bad_request', `the environment variable ${config.passwordEnv} (database password) is not set`);
    return value;
  }
  return undefined;
}

/** TLS options in the shape both pg and mysql2 take (`ca`, `rejectUnauthorized`), or undefined for none. */
export function tlsOptions(ssl: ServerConnectionConfig['ssl']): { ca?: string; rejectUnauthorized: boolean } | undefined {
  if (ssl === undefined || ssl === false) return undefined;
  if (ssl === true) return { rejectUnauthorized: true };
  return {
    rejectUnauthorized: ssl.rejectUnauthorized ?? true,
    ...(ssl.caFile === undefined ? {} : { ca: readFileSync(ssl.caFile, 'utf8') }),
  };
}
