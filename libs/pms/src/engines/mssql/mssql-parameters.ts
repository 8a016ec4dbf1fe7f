import { AppError } from '@halo/contracts';
import type { QueryParameter, SqlDbType } from '@halo/contracts';
import { TYPES } from 'tedious';
import { convertParameter, parameterKey } from '../../parameters/convert-parameter.ts';

type TediousType = (typeof TYPES)[keyof typeof TYPES];

/** Length, precision and scale as tedious's addParameter takes them. */
export interface ParameterOptions {
  length?: number;
  precision?: number;
  scale?: number;
}

/** One parameter as tedious's Request.addParameter takes it; sp_executesql declares it from the type. */
export interface MssqlParameter {
  name: string;
  type: TediousType;
  value: unknown;
  options: ParameterOptions;
}

// Text, NText and Image are deprecated and Xml travels as text: each goes as its modern (max) equivalent,
// which SQL Server converts implicitly where a column has the old type.
const TYPE_OF: Record<SqlDbType, TediousType> = {
  BigInt: TYPES.BigInt, Binary: TYPES.Binary, Bit: TYPES.Bit, Char: TYPES.Char, Date: TYPES.Date,
  DateTime: TYPES.DateTime, DateTime2: TYPES.DateTime2, DateTimeOffset: TYPES.DateTimeOffset, Decimal: TYPES.Decimal,
  Float: TYPES.Float, Image: TYPES.VarBinary, Int: TYPES.Int, Money: TYPES.Money, NChar: TYPES.NChar,
  NText: TYPES.NVarChar, NVarChar: TYPES.NVarChar, Real: TYPES.Real, SmallDateTime: TYPES.SmallDateTime,
  SmallInt: TYPES.SmallInt, SmallMoney: TYPES.SmallMoney, Text: TYPES.VarChar, Time: TYPES.Time, TinyInt: TYPES.TinyInt,
  UniqueIdentifier: TYPES.UniqueIdentifier, VarBinary: TYPES.VarBinary, VarChar: TYPES.VarChar, Xml: TYPES.NVarChar,
};

const MAX_TYPES: ReadonlySet<SqlDbType> = new Set(['Text', 'NText', 'Image', 'Xml']);
const WALL_CLOCK = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,7}))?)?(Z|[+-]\d{2}:\d{2})?$/;
const TIME_OF_DAY = /^(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,7}))?$/;

/**
 * Converts parameters by SqlDbType (values validated by parameters.ts) into typed sp_executesql parameters.
 * Dates travel as their wall-clock value (tedious writes a Date's UTC fields), with sub-millisecond digits kept.
 */
export function mssqlParameters(parameters: readonly QueryParameter[]): MssqlParameter[] {
  const seen = new Set<string>();
  return parameters.map((parameter) => {
    const name = parameterKey(parameter.name);
    const lower = name.toLowerCase();
    // SQL Server parameter names are case-insensitive.
    if (seen.has(lower)) throw new AppError('bad_request', `parameter @${name} is given more than once`);
    seen.add(lower);
    const converted = convertParameter(parameter);
    const options: ParameterOptions = {};
    if (MAX_TYPES.has(parameter.type)) options.length = Infinity;
    else if (parameter.size !== undefined && parameter.size > 0) options.length = parameter.size;
    return { name, type: TYPE_OF[parameter.type], value: value(parameter.type, converted, parameter.value, options), options };
  });
}

function value(type: SqlDbType, converted: unknown, raw: string | null, options: ParameterOptions): unknown {
  if (converted === null || raw === null) return null;
  switch (type) {
    case 'Bit':
      return converted === 1;
    case 'Decimal': {
      // tedious scales a JS number: precision and scale come from the text so 12.345 is not rounded to 12.
      const [whole = '', fraction = ''] = raw.trim().replace(/^[+-]/, '').split('.');
      const digits = whole.replace(/^0+/, '').length + fraction.length;
      options.scale = Math.min(fraction.length, 38);
      options.precision = Math.min(Math.max(digits, options.scale, 1), 38);
      return converted;
    }
    case 'Date':
    case 'DateTime':
    case 'DateTime2':
    case 'SmallDateTime':
    case 'DateTimeOffset':
      options.scale = 7;
      return wallClock(String(converted));
    case 'Time': {
      options.scale = 7;
      const match = TIME_OF_DAY.exec(String(converted));
      if (!match) throw new AppError('bad_request', 'a Time parameter is not valid');
      return wallClock(`1970-01-01T${match[1]}:${match[2]}:${match[3]}${match[4] ? `.${match[4]}` : ''}`);
    }
    default:
      return converted;
  }
}

/** A Date whose UTC fields are the wall-clock value, with `nanosecondDelta` for digits past the millisecond. */
function wallClock(text: string): Date {
  const match = WALL_CLOCK.exec(text);
  if (!match) throw new AppError('bad_request', 'a date/time parameter is not valid');
  const [, y, mo, d, h = '0', mi = '0', s = '0', f = '', zone] = match;
  const fraction = f.padEnd(7, '0');
  const date = new Date(0);
  date.setUTCFullYear(Number(y), Number(mo) - 1, Number(d));
  date.setUTCHours(Number(h), Number(mi), Number(s), Number(fraction.slice(0, 3)));
  if (zone && zone !== 'Z') {
    const sign = zone.startsWith('-') ? -1 : 1;
    date.setTime(date.getTime() - sign * (Number(zone.slice(1, 3)) * 60 + Number(zone.slice(4, 6))) * 60_000);
  }
  Object.defineProperty(date, 'nanosecondDelta', { value: Number(fraction.slice(3)) / 1e7, enumerable: false });
  return date;
}
