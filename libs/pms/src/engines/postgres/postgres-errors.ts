import { AppError } from '@halo/contracts';

// PostgreSQL quotes values in data errors (invalid input syntax for type integer: "abc") and tokens of the SQL
// text in syntax errors (at or near "..."); both are redacted. Identifiers in other messages are kept, as they
// help and hold no practice data. DETAIL and HINT (which carry row values) are never used.
const QUOTED = /"(?:[^"]|"")*"/g;
const NETWORK = /^(ECONNRESET|ECONNREFUSED|EPIPE|ETIMEDOUT|EHOSTUNREACH|ENOTFOUND|ENETUNREACH)$/;

/** Maps anything pg throws to an AppError whose message is safe to show and log. */
export function postgresError(error: unknown): AppError {
  if (error instanceof AppError) return error;
  const code = typeof (error as { code?: unknown })?.code === 'string' ? (error as { code: string }).code : '';
  const message = error instanceof Error ? error.message : '';
  if (code === '25006') return new AppError('writes_disabled', 'PostgreSQL: the statement tried to write in a read-only transaction');
  if (code === '57014') {
    return /statement timeout/.test(message) ? new AppError('deadline_exceeded', 'the query deadline passed') : new AppError('cancelled', 'the query was cancelled');
  }
  if (/^[0-9A-Z]{5}$/.test(code)) {
    const redact = code.startsWith('22') || code.startsWith('23') || code === '42601';
    return new AppError('query_failed', `PostgreSQL ${code}: ${redact ? message.replace(QUOTED, '"<redacted>"') : message}`);
  }
  if (NETWORK.test(code) || /Connection terminated|connection (is )?closed/i.test(message)) {
    return new AppError('query_failed', `the connection to PostgreSQL was lost${code ? ` (${code})` : ''}`);
  }
  return new AppError('internal', 'unexpected PostgreSQL failure');
}
