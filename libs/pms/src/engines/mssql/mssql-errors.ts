import { AppError } from '@halo/contracts';

// SQL Server quotes values and names in its messages ("Conversion failed when converting the nvarchar value
// 'Smith' to data type int"): a quoted fragment may be row data, a parameter or SQL text, so it is dropped.
const QUOTED = /'(?:[^']|'')*'|"(?:[^"]|"")*"/g;

/** A tedious request error as an AppError whose message is safe to show: number and redacted text. */
export function mssqlRequestError(error: unknown): AppError {
  if (error instanceof AppError) return error;
  const first = error instanceof AggregateError ? (error.errors[0] as unknown) : error;
  const code = typeof (first as { code?: unknown })?.code === 'string' ? (first as { code: string }).code : '';
  const number = (first as { number?: unknown })?.number;
  const message = first instanceof Error ? first.message : '';
  if (code === 'ETIMEOUT') return new AppError('deadline_exceeded', 'the query deadline passed');
  if (typeof number === 'number') {
    return new AppError('query_failed', `SQL Server error ${number}: ${redact(message)}`, { sqlServerError: number });
  }
  if (code === 'EPARAM' || /could not be validated|validation failed/i.test(message)) {
    return new AppError('bad_request', 'a parameter value does not fit its SqlDbType');
  }
  if (code === 'ESOCKET' || code === 'ECLOSE' || code === 'EINVALIDSTATE') {
    return new AppError('internal', 'the connection to SQL Server was lost');
  }
  return new AppError('query_failed', 'SQL Server could not run the statement');
}

/** A connect / login failure, naming where and why but never the password. */
export function mssqlConnectError(error: unknown, where: string): AppError {
  const first = error instanceof AggregateError ? (error.errors[0] as unknown) : error;
  const code = typeof (first as { code?: unknown })?.code === 'string' ? (first as { code: string }).code : '';
  const message = first instanceof Error ? first.message : String(first);
  const hint = {
    ELOGIN: 'check the login name, password and default database',
    EINSTLOOKUP: 'the SQL Browser service (UDP 1434) did not answer for this instance; give the port instead',
    EENCRYPT: 'the encrypt setting does not match what the server offers',
    ETIMEOUT: 'no answer in time; check host, port and firewall',
    ESOCKET: 'the TCP connection failed; check host, port and firewall',
  }[code];
  return new AppError('internal', `cannot connect to SQL Server ${where}: ${message}${hint ? ` (${hint})` : ''}`, { cause: error });
}

export function isCancelError(error: unknown): boolean {
  return (error as { code?: unknown })?.code === 'ECANCEL';
}

export function redact(message: string): string {
  return message.replace(QUOTED, '<redacted>').slice(0, 500);
}
