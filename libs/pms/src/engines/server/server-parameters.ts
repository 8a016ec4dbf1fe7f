// Binds `@name` parameters for the server engines: the text gets engine placeholders (sql-placeholders.ts) and
// each value is converted by its SqlDbType (parameters.ts), then shaped the way the engine's driver sends it.
import { AppError } from '@halo/contracts';
import type { QueryParameter } from '@halo/contracts';
import { convertParameter, parameterKey } from '../../parameters/convert-parameter.ts';
import { rewriteParameters, translatePlaceholders } from '../../parameters/sql-placeholders.ts';
import type { PlaceholderDialect } from '../../parameters/sql-placeholders.ts';

/** A value pg or mysql2 sends as is. */
export type ServerValue = string | number | Buffer | null;

/** Text with engine placeholders and the values in placeholder order. */
export interface BoundStatement {
  text: string;
  values: ServerValue[];
}

/**
 * Binds `@name` parameters; bad_request for a missing, repeated or invalid one. PostgreSQL gets `$n` and a values
 * array (the server binds them). MySQL gets each value written into the text as a literal by the same scanner
 * that found the parameter: mysql2's own `?` formatting would also replace a `?` inside a string literal.
 */
export function bindServerStatement(text: string, parameters: readonly QueryParameter[], dialect: PlaceholderDialect): BoundStatement {
  const byName = new Map<string, ServerValue>();
  for (const parameter of parameters) {
    const key = parameterKey(parameter.name);
    if (byName.has(key)) throw new AppError('bad_request', `parameter @${key} is given more than once`);
    byName.set(key, serverValue(parameter, dialect));
  }
  const lookup = (name: string): ServerValue => {
    const value = byName.get(name);
    if (value === undefined) throw new AppError('bad_request', `no value given for parameter @${name}`);
    return value;
  };
  if (dialect === 'mysql') return { text: rewriteParameters(text, 'mysql', (name) => mysqlLiteral(lookup(name))), values: [] };
  const translated = translatePlaceholders(text, dialect);
  return { text: translated.text, values: translated.names.map(lookup) };
}

/**
 * A MySQL literal for a value. Strings double both quotes and backslashes, which reads back the same under the
 * default sql_mode and cannot end the literal early under NO_BACKSLASH_ESCAPES either (a statement may change the
 * session's sql_mode); binary goes as a hex literal.
 */
export function mysqlLiteral(value: ServerValue): string {
  if (value === null) return 'NULL';
  if (typeof value === 'number') return Number.isFinite(value) ? String(value) : 'NULL';
  if (Buffer.isBuffer(value)) return `X'${value.toString('hex')}'`;
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "''")}'`;
}

function serverValue(parameter: QueryParameter, dialect: PlaceholderDialect): ServerValue {
  // Decimals come back as their validated text, which travels as it is: a JS number would round them.
  const converted = convertParameter(parameter);
  if (converted === null) return null;
  if (typeof converted === 'bigint') {
    // Within the safe range a number, so `LIMIT ?` on MySQL sees an integer; beyond it the digits as text.
    return converted >= BigInt(Number.MIN_SAFE_INTEGER) && converted <= BigInt(Number.MAX_SAFE_INTEGER)
      ? Number(converted)
      : converted.toString();
  }
  if (typeof converted === 'string' && dialect === 'mysql') return mysqlTemporal(parameter, converted);
  return converted;
}

/**
 * MariaDB has no offsets in date-time literals and keeps at most microseconds: DateTimeOffset becomes the
 * UTC instant, and fractions are cut to six digits.
 */
function mysqlTemporal(parameter: QueryParameter, value: string): string {
  switch (parameter.type) {
    case 'DateTimeOffset': {
      const instant = new Date(value.replace(/(\.\d{3})\d*/, '$1'));
      if (Number.isNaN(instant.getTime())) throw new AppError('bad_request', `parameter @${parameterKey(parameter.name)} is not a valid DateTimeOffset`);
      const micros = /\.\d{3}(\d{0,3})/.exec(value)?.[1] ?? '';
      return `${instant.toISOString().slice(0, 23)}${micros}`.replace('T', ' ');
    }
    case 'DateTime':
    case 'DateTime2':
    case 'SmallDateTime':
    case 'Time':
      return value.replace('T', ' ').replace(/(\.\d{6})\d+$/, '$1');
    default:
      return value;
  }
}
