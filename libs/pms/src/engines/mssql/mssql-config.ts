import { AppError } from '@halo/contracts';
import type { ResourceLimits } from '../../connector/resource-limits.ts';

/**
 * How to reach a SQL Server database. Give `port` for a fixed TCP port, or `instanceName` to ask the SQL Browser
 * service (UDP 1434 on `host`) for a named instance's port; not both. The password comes inline, from a file or
 * from the environment. `authentication: 'ntlm'` logs in as a Windows account (`domain` required) over NTLM.
 */
export interface MssqlConfig extends ResourceLimits {
  engine: 'mssql';
  /** Host name or IP address of the SQL Server machine. */
  host: string;
  /** TCP port (default 1433 unless instanceName is set). */
  port?: number;
  /** Named instance, e.g. 'BPSINSTANCE'; its port is looked up through SQL Browser. */
  instanceName?: string;
  database: string;
  /** 'sql' (SQL login, default) or 'ntlm' (Windows account). */
  authentication?: 'sql' | 'ntlm';
  /** Windows domain, for NTLM. */
  domain?: string;
  user: string;
  password?: string;
  /** A file holding the password (one trailing newline is ignored). */
  passwordFile?: string;
  /** The name of an environment variable holding the password. */
  passwordEnv?: string;
  /** TLS: true (default; TLS after PRELOGIN), 'strict' (TDS 8, TLS first), false (login packet only / none). */
  encrypt?: boolean | 'strict';
  /** Accept the server's certificate without verifying it (self-signed certificates on practice servers). */
  trustServerCertificate?: boolean;
  /** Milliseconds to connect and log in (default 15 000). */
  connectTimeoutMs?: number;
  /** nonQuery allowed and the read-only guard off. Default false. */
  allowWrites?: boolean;
}

/** Refuses a config that tedious would reject or misread, with a message naming the field. */
export function checkMssqlConfig(config: MssqlConfig): void {
  const bad = (message: string) => new AppError('bad_request', `mssql config: ${message}`);
  if (typeof config.host !== 'string' || config.host.trim() === '') throw bad('host is required');
  if (typeof config.database !== 'string' || config.database === '') throw bad('database is required');
  if (typeof config.user !== 'string' || config.user === '') throw bad('user is required');
  if (config.port !== undefined && config.instanceName !== undefined) throw bad('give port or instanceName, not both');
  if (config.port !== undefined && !(Number.isInteger(config.port) && config.port > 0 && config.port < 65_536)) throw bad('port must be 1-65535');
  if (config.authentication === 'ntlm' && !config.domain) throw bad('NTLM authentication needs a domain');
}

/** "mssql://host[:port | \\instance]/database", without credentials. */
export function mssqlIdentity(config: MssqlConfig): string {
  const where = config.instanceName ? `${config.host}\\${config.instanceName}` : `${config.host}:${config.port ?? 1433}`;
  return `mssql://${where}/${config.database}`;
}
