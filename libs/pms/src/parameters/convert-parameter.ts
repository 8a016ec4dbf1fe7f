import { AppError } from '@halo/contracts';
import type { QueryParameter, SqlDbType } from '@halo/contracts';
import { parseDecimalParameter } from './decimal-values.ts';

/** A value better-sqlite3 can bind. */
export type BoundValue = string | number | bigint | Buffer | null;

const NAME = /^@?([A-Za-z_][A-Za-z0-9_]{0,127})$/;

// Integer ranges of SQL Server's types, so a value SQL Server would refuse is refused here too.
const INTEGER_RANGES = {
  TinyInt: [0n, 255n],
  SmallInt: [-32_768n, 32_767n],
  Int: [-2_147_483_648n, 2_147_483_647n],
  BigInt: [-9_223_372_036_854_775_808n, 9_223_372_036_854_775_807n],
} as const;

const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
const TIME = /^(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,7}))?)?$/;
const DATE_TIME = /^(\d{4}-\d{2}-\d{2})(?:[T ](\d{2}:\d{2}(?::\d{2}(?:\.\d{1,7})?)?))?$/;
const DATE_TIME_OFFSET = /^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}(?::\d{2}(?:\.\d{1,7})?)?)\s?(Z|[+-]\d{2}:\d{2})$/;
const GUID = /^\{?([0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12})\}?$/;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const FLOAT = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

/** The bare name better-sqlite3 binds `@name` from; bad_request if the name is not an identifier. */
export function parameterKey(name: string): string {
  const match = NAME.exec(name);
  if (!match?.[1]) throw new AppError('bad_request', 'a parameter name is not a valid identifier such as "@patNum"');
  return match[1];
}

const SQLITE_INTEGER_TYPES: ReadonlySet<SqlDbType> = new Set(['TinyInt', 'SmallInt', 'Int', 'Bit']);

/**
 * Converts every parameter by its SqlDbType into an object keyed by bare name, as better-sqlite3 binds `@name`.
 * Integer types are bound as bigint because better-sqlite3 binds every JS number as REAL, and
 * `typeof(@id)`, integer division and `LIMIT` should see an INTEGER.
 */
export function bindParameters(parameters: readonly QueryParameter[]): Record<string, BoundValue> {
  const bound: Record<string, BoundValue> = Object.create(null);
  for (const parameter of parameters) {
    const key = parameterKey(parameter.name);
    if (Object.hasOwn(bound, key)) throw new AppError('bad_request', `parameter @${key} is given more than once`);
    const value = convertParameter(parameter);
    if (typeof value === 'number' && SQLITE_INTEGER_TYPES.has(parameter.type)) bound[key] = BigInt(value);
    else if (typeof value === 'string' && DECIMAL_TYPES.has(parameter.type)) bound[key] = sqliteDecimal(value);
    else bound[key] = value;
  }
  return bound;
}

const DECIMAL_TYPES: ReadonlySet<SqlDbType> = new Set(['Decimal', 'Money', 'SmallMoney']);

/**
 * SQLite has no decimal type (a DECIMAL column holds REAL or INTEGER): a decimal binds as a number when a double
 * gives back exactly its digits, so comparisons and arithmetic stay numeric, and as its text otherwise, so
 * `SELECT @amount` returns every digit of "99999999999999999999".
 */
function sqliteDecimal(text: string): BoundValue {
  const number = Number(text);
  return canonicalDecimal(String(number)) === canonicalDecimal(text) ? number : text;
}

/** Digits without a '+', leading zeros or trailing fraction zeros: "-0012.50" -> "-12.5". */
function canonicalDecimal(text: string): string {
  const [whole = '', fraction = ''] = text.replace(/^\+/, '').split('.');
  const sign = whole.startsWith('-') ? '-' : '';
  const digits = `${whole.replace(/^-/, '').replace(/^0+/, '') || '0'}.${fraction.replace(/0+$/, '')}`.replace(/\.$/, '');
  return digits === '0' ? '0' : `${sign}${digits}`;
}

/**
 * Converts one parameter's string value by its SqlDbType; errors name the parameter, never its value. Decimal,
 * Money and SmallMoney come back as their exact text, checked against SQL Server's ranges.
 */
export function convertParameter(parameter: QueryParameter): BoundValue {
  const { value, type } = parameter;
  if (value === null) return null;
  const label = `parameter @${parameterKey(parameter.name)}`;
  if (DECIMAL_TYPES.has(type)) return parseDecimalParameter({ ...parameter, value }, label).text;
  const invalid = () => new AppError('bad_request', `${label} is not a valid ${type}`);
  const converted = convert(type, value);
  if (converted === undefined) throw invalid();
  return converted;
}

/** undefined = the value is not valid for the type. */
function convert(type: SqlDbType, value: string): BoundValue | undefined {
  switch (type) {
    case 'TinyInt':
    case 'SmallInt':
    case 'Int':
    case 'BigInt': {
      const integer = parseInteger(value, INTEGER_RANGES[type]);
      if (integer === undefined) return undefined;
      return type === 'BigInt' ? integer : Number(integer);
    }
    case 'Bit':
      return parseBit(value);
    case 'Float':
    case 'Real':
      return parseNumber(value, FLOAT);
    case 'Decimal':
    case 'Money':
    case 'SmallMoney':
      return undefined; // convertParameter parses these exactly
    case 'Date':
      return parseDate(value);
    case 'Time':
      return parseTime(value);
    case 'DateTime':
    case 'DateTime2':
    case 'SmallDateTime':
      return parseDateTime(value);
    case 'DateTimeOffset':
      return parseDateTimeOffset(value);
    case 'UniqueIdentifier':
      return GUID.exec(value.trim())?.[1];
    case 'Binary':
    case 'VarBinary':
    case 'Image':
      return BASE64.test(value) ? Buffer.from(value, 'base64') : undefined;
    case 'Char':
    case 'NChar':
    case 'VarChar':
    case 'NVarChar':
    case 'Text':
    case 'NText':
    case 'Xml':
      return value;
  }
}

function parseInteger(value: string, [min, max]: readonly [bigint, bigint]): bigint | undefined {
  const trimmed = value.trim();
  if (!/^[+-]?\d{1,20}$/.test(trimmed)) return undefined;
  const integer = BigInt(trimmed);
  return integer >= min && integer <= max ? integer : undefined;
}

function parseBit(value: string): number | undefined {
  switch (value.trim().toLowerCase()) {
    case '1':
    case 'true':
      return 1;
    case '0':
    case 'false':
      return 0;
    default:
      return undefined;
  }
}

function parseNumber(value: string, shape: RegExp): number | undefined {
  const trimmed = value.trim();
  if (!shape.test(trimmed)) return undefined;
  const number = Number(trimmed);
  return Number.isFinite(number) ? number : undefined;
}

/** 'YYYY-MM-DD' if it is a real calendar date. */
function parseDate(value: string): string | undefined {
  const match = DATE.exec(value.trim());
  if (!match) return undefined;
  const [, year, month, day] = match.map(Number) as [number, number, number, number];
  if (year < 1 || month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return undefined;
  return match[0];
}

/** 'HH:MM:SS[.fffffff]'. */
function parseTime(value: string): string | undefined {
  const match = TIME.exec(value.trim());
  if (!match) return undefined;
  const hours = Number(match[1]);
  const minutes = Number(match[2]);
  const seconds = Number(match[3] ?? '0');
  if (hours > 23 || minutes > 59 || seconds > 59) return undefined;
  const fraction = match[4] ? `.${match[4]}` : '';
  return `${match[1]}:${match[2]}:${match[3] ?? '00'}${fraction}`;
}

/** 'YYYY-MM-DDTHH:MM:SS[.fffffff]': the form the sample schema stores, so text comparisons work. */
function parseDateTime(value: string): string | undefined {
  const match = DATE_TIME.exec(value.trim());
  if (!match?.[1]) return undefined;
  const date = parseDate(match[1]);
  const time = parseTime(match[2] ?? '00:00');
  return date && time ? `${date}T${time}` : undefined;
}

/** Like DateTime, with the offset kept as given (Z or ±HH:MM). */
function parseDateTimeOffset(value: string): string | undefined {
  const match = DATE_TIME_OFFSET.exec(value.trim());
  if (!match?.[1] || !match[2] || !match[3]) return undefined;
  const dateTime = parseDateTime(`${match[1]}T${match[2]}`);
  const offset = match[3];
  if (offset !== 'Z' && (Number(offset.slice(1, 3)) > 14 || Number(offset.slice(4, 6)) > 59)) return undefined;
  return dateTime ? `${dateTime}${offset}` : undefined;
}

function daysInMonth(year: number, month: number): number {
  if (month === 2) return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28;
  return [4, 6, 9, 11].includes(month) ? 30 : 31;
}
