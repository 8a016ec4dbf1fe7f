import { AppError } from '@halo/contracts';
import type { QueryParameter, SqlDbType } from '@halo/contracts';
import { TYPES } from 'tedious';
import { decimalShape, parseDecimalParameter, scaledDigits } from '../../parameters/decimal-values.ts';
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
  /** output and inputOutput go through addOutputParameter; returnValue is not sent (it is the RETURN status). */
  direction: QueryParameter['direction'];
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

// tedious parses decimal and money values with parseFloat, which rounds past ~15 significant digits: these
// variants take the value already scaled to an exact integer (decimal-values.ts) and write its bytes as they are.
interface ScaledValue {
  value: bigint | null;
  precision: number;
}
const EXACT_DECIMAL: TediousType = {
  ...TYPES.Decimal,
  validate: (value: unknown) => value,
  writeValue(buffer: { writeUInt8(value: number): void }, data: ScaledValue) {
    if (data.value === null) {
      buffer.writeUInt8(0);
      return;
    }
    const size = decimalSize(data.precision);
    let magnitude = data.value < 0n ? -data.value : data.value;
    buffer.writeUInt8(size + 1);
    buffer.writeUInt8(data.value < 0n ? 0 : 1);
    for (let i = 0; i < size; i += 1, magnitude >>= 8n) buffer.writeUInt8(Number(magnitude & 0xffn));
  },
} as TediousType;
const EXACT_MONEY: TediousType = {
  ...TYPES.Money,
  validate: (value: unknown) => value,
  writeValue(buffer: { writeUInt8(value: number): void; writeInt32LE(value: number): void; writeUInt32LE(value: number): void }, data: ScaledValue) {
    if (data.value === null) {
      buffer.writeUInt8(0);
      return;
    }
    buffer.writeUInt8(8);
    buffer.writeInt32LE(Number(data.value >> 32n));
    buffer.writeUInt32LE(Number(data.value & 0xffff_ffffn));
  },
} as TediousType;
const EXACT_SMALL_MONEY: TediousType = {
  ...TYPES.SmallMoney,
  validate: (value: unknown) => value,
  writeValue(buffer: { writeUInt8(value: number): void; writeInt32LE(value: number): void }, data: ScaledValue) {
    if (data.value === null) {
      buffer.writeUInt8(0);
      return;
    }
    buffer.writeUInt8(4);
    buffer.writeInt32LE(Number(data.value));
  },
} as TediousType;

/** Bytes of a decimal's magnitude at a precision (TDS: 4, 8, 12 or 16). */
function decimalSize(precision: number): number {
  if (precision <= 9) return 4;
  if (precision <= 19) return 8;
  return precision <= 28 ? 12 : 16;
}

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
    const options: ParameterOptions = {};
    const { direction } = parameter;
    // An output-only parameter's value is not sent: SQL Server starts it as NULL.
    if (direction === 'returnValue' || direction === 'output') parameter = { ...parameter, value: null };
    if (parameter.type === 'Decimal' || parameter.type === 'Money' || parameter.type === 'SmallMoney') {
      return { name, ...exactDecimal(parameter, options), options, direction };
    }
    const converted = convertParameter(parameter);
    if (MAX_TYPES.has(parameter.type)) options.length = Infinity;
    else if (parameter.size !== undefined && parameter.size > 0) options.length = parameter.size;
    return { name, type: TYPE_OF[parameter.type], value: value(parameter.type, converted, parameter.value, options), options, direction };
  });
}

/** A Decimal (precision and scale from the parameter, else from its text), Money or SmallMoney, scaled exactly. */
function exactDecimal(parameter: QueryParameter, options: ParameterOptions): { type: TediousType; value: bigint | null } {
  const type = parameter.type === 'Decimal' ? EXACT_DECIMAL : parameter.type === 'Money' ? EXACT_MONEY : EXACT_SMALL_MONEY;
  if (parameter.value === null) {
    if (parameter.type === 'Decimal') Object.assign(options, decimalShape(parameter, { text: '', negative: false, whole: '', fraction: '' }));
    return { type, value: null };
  }
  const decimal = parseDecimalParameter({ ...parameter, value: parameter.value }, `parameter @${parameterKey(parameter.name)}`);
  if (parameter.type !== 'Decimal') return { type, value: scaledDigits(decimal, 4) };
  const shape = decimalShape(parameter, decimal);
  Object.assign(options, shape);
  return { type, value: scaledDigits(decimal, shape.scale) };
}

function value(type: SqlDbType, converted: unknown, raw: string | null, options: ParameterOptions): unknown {
  if (converted === null || raw === null) return null;
  switch (type) {
    case 'Bit':
      return converted === 1;
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
