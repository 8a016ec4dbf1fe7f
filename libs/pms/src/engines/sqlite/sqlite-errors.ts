import { AppError } from '@halo/contracts/errors';

// better-sqlite3 reports binding problems as RangeError/TypeError and engine problems as SqliteError (with a
// `code`). Messages are rebuilt or redacted so that no SQL text or value can reach a caller or a log.

const MISSING_NAMED = /^Missing named parameter "([A-Za-z_][A-Za-z0-9_]*)"$/;
// Syntax errors quote the offending token, which can be a literal from the SQL text.
const QUOTED_TOKEN = /(near|unrecognized token:) "(?:[^"]|"")*"/g;

/** Maps anything better-sqlite3 throws to an AppError whose message is safe to show. */
export function sqliteError(error: unknown): AppError {
  if (error instanceof AppError) return error;
  const message = error instanceof Error ? error.message : '';
  if (error instanceof RangeError || error instanceof TypeError) {
    const missing = MISSING_NAMED.exec(message);
    if (missing) return new AppError('bad_request', `no value given for parameter @${missing[1]}`);
    if (/more than one statement/.test(message)) {
      return new AppError('query_failed', 'the command text must hold exactly one statement');
    }
    if (/parameter values/.test(message)) {
      return new AppError('bad_request', 'the parameters do not match the statement (use named parameters such as @patNum)');
    }
    if (/can only bind/.test(message)) return new AppError('bad_request', 'a parameter has a type SQLite cannot bind');
    return new AppError('query_failed', 'the statement could not be executed');
  }
  const code = typeof (error as { code?: unknown })?.code === 'string' ? (error as { code: string }).code : '';
  if (code.startsWith('SQLITE_READONLY')) return new AppError('writes_disabled', 'the database is read-only');
  if (code.startsWith('SQLITE_')) {
    return new AppError('query_failed', `SQLite: ${message.replace(QUOTED_TOKEN, '$1 <token>')}`);
  }
  return new AppError('internal', 'unexpected SQLite failure');
}
