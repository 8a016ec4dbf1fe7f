import { AppError } from '@halo/contracts';

// MySQL quotes tokens of the SQL text (syntax errors: near '...') and values (Incorrect integer value: '...') in
// single quotes; those are redacted. Errors that quote only names (no such table or column, access denied) keep
// them, as they help and hold no practice data.
const QUOTED = /'(?:[^'\\]|\\.|'')*'/g;
const NEAR = /near '[\s\S]*' at line (\d+)/;
const NAMES_ONLY = new Set([1044, 1045, 1049, 1051, 1054, 1109, 1142, 1143, 1146, 1305]);
const NETWORK = /^(PROTOCOL_CONNECTION_LOST|ECONNRESET|ECONNREFUSED|EPIPE|ETIMEDOUT|EHOSTUNREACH|ENOTFOUND|ENETUNREACH)$/;

/** Maps anything mysql2 throws to an AppError whose message is safe to show and log. */
export function mysqlError(error: unknown): AppError {
  if (error instanceof AppError) return error;
  const { errno, code } = error as { errno?: unknown; code?: unknown };
  const message = error instanceof Error ? error.message : '';
  const number = typeof errno === 'number' ? errno : 0;
  // 1290 is also MariaDB's answer to a session past max_session_mem_used (the connector's memory limit).
  if (number === 1290 && /max-session-mem-used/.test(message)) {
    return new AppError('resource_limit_exceeded', 'the statement needed more memory than this site allows (MariaDB max_session_mem_used)');
  }
  // 1792: write in a READ ONLY transaction; 1290: server running with --read-only.
  if (number === 1792 || number === 1290) return new AppError('writes_disabled', 'MySQL: the statement tried to write in a read-only transaction');
  // 1969: max_statement_time exceeded (MariaDB); 3024: max_execution_time exceeded (MySQL).
  if (number === 1969 || number === 3024) return new AppError('deadline_exceeded', 'the query deadline passed');
  if (number === 1317) return new AppError('cancelled', 'the query was cancelled');
  if (typeof code === 'string' && NETWORK.test(code)) return new AppError('query_failed', `the connection to MySQL was lost (${code})`);
  if (number > 0 && number < 5000) {
    // A syntax error quotes the rest of the statement after `near`, quotes and all: cut it as a whole first.
    const safe = NAMES_ONLY.has(number) ? message : message.replace(NEAR, "near '<redacted>' at line $1").replace(QUOTED, "'<redacted>'");
    return new AppError('query_failed', `MySQL ${number}: ${safe}`);
  }
  return new AppError('internal', 'unexpected MySQL failure');
}
