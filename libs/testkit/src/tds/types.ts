// The column types the responder can send (TYPE_INFO in COLMETADATA, values in ROW) and the parameter types
// it can read from an RPC request (MS-TDS 2.2.5.4 - 2.2.5.6). Date and time strings are wall-clock values.
import { ByteReader, ByteWriter } from './bytes.ts';

/** SQL Server types a fixture column may have. */
export type TdsColumnType =
  | 'int' | 'bigint' | 'smallint' | 'tinyint' | 'bit' | 'float' | 'real' | 'decimal'
  | 'nvarchar' | 'varchar' | 'datetime2' | 'datetime' | 'date' | 'uniqueidentifier' | 'varbinary';

/** One result column of a fixture. */
export interface TdsColumn {
  name: string;
  type: TdsColumnType;
  /** decimal: precision (default 18) and scale (default 0); datetime2: scale (default 7). */
  precision?: number;
  scale?: number;
  /** nvarchar / varchar: characters, varbinary: bytes (default 4000 / 8000 / 8000; max types are not supported). */
  length?: number;
}

/** A cell value in a fixture. Decimals, big integers, dates and GUIDs are best given as strings (exact). */
export type TdsValue = null | number | bigint | string | boolean | Buffer | Date;

/** A decoded RPC parameter value: integers as number (bigint for BIGINT), decimals, dates and GUIDs as strings. */
export type TdsParameterValue = null | number | bigint | string | boolean | Buffer;

// SQL_Latin1_General_CP1_CI_AS: LCID 0x0409, case/kana/width-insensitive, sort id 52 (code page 1252).
export const COLLATION = Buffer.from([0x09, 0x04, 0xd0, 0x00, 0x34]);

const TYPE = {
  INTN: 0x26, BITN: 0x68, FLTN: 0x6d, MONEYN: 0x6e, DATETIMN: 0x6f, DECIMALN: 0x6a, NUMERICN: 0x6c,
  GUID: 0x24, DATEN: 0x28, TIMEN: 0x29, DATETIME2N: 0x2a, DATETIMEOFFSETN: 0x2b,
  BIGVARCHR: 0xa7, BIGCHAR: 0xaf, NVARCHAR: 0xe7, NCHAR: 0xef, BIGVARBIN: 0xa5, BIGBINARY: 0xad,
  TEXT: 0x23, NTEXT: 0x63, IMAGE: 0x22, XML: 0xf1,
  INT1: 0x30, BIT: 0x32, INT2: 0x34, INT4: 0x38, INT8: 0x7f, FLT4: 0x3b, FLT8: 0x3e, DATETIME: 0x3d, DATETIM4: 0x3a,
  MONEY: 0x3c, MONEY4: 0x7a,
} as const;

const INT_SIZES = { tinyint: 1, smallint: 2, int: 4, bigint: 8 } as const;
const MS_PER_DAY = 86_400_000;
const DAY_ONE = utcDays(1, 1, 1); // 0001-01-01
const DAY_1900 = utcDays(1900, 1, 1);
const WALL_CLOCK = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,7}))?)?)?$/;

/** Writes one column's TYPE_INFO (after UserType and Flags). */
export function writeTypeInfo(out: ByteWriter, column: TdsColumn): void {
  switch (column.type) {
    case 'tinyint':
    case 'smallint':
    case 'int':
    case 'bigint':
      out.u8(TYPE.INTN).u8(INT_SIZES[column.type]);
      return;
    case 'bit':
      out.u8(TYPE.BITN).u8(1);
      return;
    case 'float':
    case 'real':
      out.u8(TYPE.FLTN).u8(column.type === 'float' ? 8 : 4);
      return;
    case 'decimal': {
      const precision = column.precision ?? 18;
      out.u8(TYPE.DECIMALN).u8(decimalLength(precision) + 1).u8(precision).u8(column.scale ?? 0);
      return;
    }
    case 'nvarchar':
      out.u8(TYPE.NVARCHAR).u16((column.length ?? 4000) * 2).bytes(COLLATION);
      return;
    case 'varchar':
      out.u8(TYPE.BIGVARCHR).u16(column.length ?? 8000).bytes(COLLATION);
      return;
    case 'varbinary':
      out.u8(TYPE.BIGVARBIN).u16(column.length ?? 8000);
      return;
    case 'datetime2':
      out.u8(TYPE.DATETIME2N).u8(column.scale ?? 7);
      return;
    case 'datetime':
      out.u8(TYPE.DATETIMN).u8(8);
      return;
    case 'date':
      out.u8(TYPE.DATEN);
      return;
    case 'uniqueidentifier':
      out.u8(TYPE.GUID).u8(16);
      return;
  }
}

/** Writes one cell of a ROW token. */
export function writeValue(out: ByteWriter, column: TdsColumn, value: TdsValue): void {
  const variableLength = column.type === 'nvarchar' || column.type === 'varchar' || column.type === 'varbinary';
  if (value === null) {
    if (variableLength) out.u16(0xffff);
    else out.u8(0);
    return;
  }
  switch (column.type) {
    case 'tinyint':
    case 'smallint':
    case 'int':
    case 'bigint': {
      const size = INT_SIZES[column.type];
      const b = Buffer.alloc(size);
      const n = BigInt(typeof value === 'boolean' ? Number(value) : (value as number | bigint | string));
      if (size === 8) b.writeBigInt64LE(n);
      else if (size === 4) b.writeInt32LE(Number(n));
      else if (size === 2) b.writeInt16LE(Number(n));
      else b.writeUInt8(Number(n));
      out.u8(size).bytes(b);
      return;
    }
    case 'bit':
      out.u8(1).u8(value === true || Number(value) === 1 ? 1 : 0);
      return;
    case 'float':
    case 'real': {
      const b = Buffer.alloc(column.type === 'float' ? 8 : 4);
      if (column.type === 'float') b.writeDoubleLE(Number(value));
      else b.writeFloatLE(Number(value));
      out.u8(b.length).bytes(b);
      return;
    }
    case 'decimal': {
      const precision = column.precision ?? 18;
      const scale = column.scale ?? 0;
      const scaled = scaleDecimal(String(value), scale);
      const size = decimalLength(precision);
      const magnitude = scaled < 0n ? -scaled : scaled;
      const b = Buffer.alloc(size);
      for (let i = 0; i < size; i++) b[i] = Number((magnitude >> BigInt(8 * i)) & 0xffn);
      out.u8(size + 1).u8(scaled < 0n ? 0 : 1).bytes(b);
      return;
    }
    case 'nvarchar': {
      const b = Buffer.from(String(value), 'utf16le');
      out.u16(b.length).bytes(b);
      return;
    }
    case 'varchar': {
      const b = Buffer.from(String(value), 'latin1');
      out.u16(b.length).bytes(b);
      return;
    }
    case 'varbinary': {
      const b = Buffer.isBuffer(value) ? value : Buffer.from(String(value), 'base64');
      out.u16(b.length).bytes(b);
      return;
    }
    case 'datetime2': {
      const scale = column.scale ?? 7;
      const { days, ticks } = wallClock(value);
      const units = ticks / 10n ** BigInt(7 - scale);
      const timeBytes = timeLength(scale);
      const b = Buffer.alloc(timeBytes + 3);
      for (let i = 0; i < timeBytes; i++) b[i] = Number((units >> BigInt(8 * i)) & 0xffn);
      b.writeUIntLE(days - DAY_ONE, timeBytes, 3);
      out.u8(b.length).bytes(b);
      return;
    }
    case 'datetime': {
      const { days, ticks } = wallClock(value);
      // datetime counts 1/300 s; 10^7 ticks per second.
      const threeHundredths = Number((ticks * 300n + 5_000_000n) / 10_000_000n);
      out.u8(8).i32(days - DAY_1900).u32(threeHundredths);
      return;
    }
    case 'date': {
      const b = Buffer.alloc(3);
      b.writeUIntLE(wallClock(value).days - DAY_ONE, 0, 3);
      out.u8(3).bytes(b);
      return;
    }
    case 'uniqueidentifier':
      out.u8(16).bytes(guidBytes(String(value)));
      return;
  }
}

/** A parameter read from an RPC request. */
export interface DecodedParameter {
  /** SQL Server type as sp_executesql would declare it, without length, e.g. 'int', 'nvarchar', 'decimal'. */
  type: string;
  value: TdsParameterValue;
  precision?: number;
  scale?: number;
}

/** Reads TYPE_INFO then the value of one RPC parameter. */
export function readParameter(r: ByteReader): DecodedParameter {
  const id = r.u8();
  switch (id) {
    case TYPE.INTN: {
      r.u8();
      const len = r.u8();
      const names: Record<number, string> = { 1: 'tinyint', 2: 'smallint', 4: 'int', 8: 'bigint' };
      if (len === 0) return { type: 'int', value: null };
      const b = r.take(len);
      const type = names[len] ?? 'int';
      if (len === 8) return { type, value: b.readBigInt64LE(0) };
      return { type, value: len === 4 ? b.readInt32LE(0) : len === 2 ? b.readInt16LE(0) : b.readUInt8(0) };
    }
    case TYPE.BITN: {
      r.u8();
      const len = r.u8();
      return { type: 'bit', value: len === 0 ? null : r.take(len)[0] === 1 };
    }
    case TYPE.FLTN: {
      const size = r.u8();
      const len = r.u8();
      const type = size === 4 ? 'real' : 'float';
      if (len === 0) return { type, value: null };
      const b = r.take(len);
      return { type, value: len === 4 ? b.readFloatLE(0) : b.readDoubleLE(0) };
    }
    case TYPE.MONEYN: {
      const size = r.u8();
      const len = r.u8();
      const type = size === 4 ? 'smallmoney' : 'money';
      if (len === 0) return { type, value: null };
      const b = r.take(len);
      const scaled = len === 4 ? BigInt(b.readInt32LE(0)) : (BigInt(b.readInt32LE(0)) << 32n) + BigInt(b.readUInt32LE(4));
      return { type, value: formatScaled(scaled, 4) };
    }
    case TYPE.DATETIMN: {
      const size = r.u8();
      const len = r.u8();
      const type = size === 4 ? 'smalldatetime' : 'datetime';
      if (len === 0) return { type, value: null };
      const b = r.take(len);
      if (len === 4) {
        return { type, value: formatWallClock(DAY_1900 + b.readUInt16LE(0), BigInt(b.readUInt16LE(2)) * 600_000_000n, 0) };
      }
      const ticks = (BigInt(b.readUInt32LE(4)) * 10_000_000n + 150n) / 300n;
      return { type, value: formatWallClock(DAY_1900 + b.readInt32LE(0), ticks, 3) };
    }
    case TYPE.DECIMALN:
    case TYPE.NUMERICN: {
      r.u8();
      const precision = r.u8();
      const scale = r.u8();
      const type = id === TYPE.DECIMALN ? 'decimal' : 'numeric';
      const len = r.u8();
      if (len === 0) return { type, value: null, precision, scale };
      const positive = r.u8() === 1;
      const magnitude = r.take(len - 1);
      let n = 0n;
      for (let i = magnitude.length - 1; i >= 0; i--) n = (n << 8n) | BigInt(magnitude[i] ?? 0);
      return { type, value: formatScaled(positive ? n : -n, scale), precision, scale };
    }
    case TYPE.GUID: {
      r.u8();
      const len = r.u8();
      return { type: 'uniqueidentifier', value: len === 0 ? null : guidText(r.take(len)) };
    }
    case TYPE.DATEN: {
      const len = r.u8();
      return { type: 'date', value: len === 0 ? null : formatWallClock(DAY_ONE + r.take(3).readUIntLE(0, 3), 0n, -1) };
    }
    case TYPE.TIMEN:
    case TYPE.DATETIME2N:
    case TYPE.DATETIMEOFFSETN: {
      const scale = r.u8();
      const type = id === TYPE.TIMEN ? 'time' : id === TYPE.DATETIME2N ? 'datetime2' : 'datetimeoffset';
      const len = r.u8();
      if (len === 0) return { type, value: null, scale };
      const timeBytes = timeLength(scale);
      const b = r.take(len);
      const ticks = BigInt(b.readUIntLE(0, timeBytes)) * 10n ** BigInt(7 - scale);
      if (id === TYPE.TIMEN) return { type, value: formatWallClock(DAY_1900, ticks, scale).slice(11), scale };
      const days = DAY_ONE + b.readUIntLE(timeBytes, 3);
      const text = formatWallClock(days, ticks, scale);
      if (id === TYPE.DATETIME2N) return { type, value: text, scale };
      const offset = b.readInt16LE(timeBytes + 3);
      return { type, value: `${text}${offset === 0 ? 'Z' : formatOffset(offset)}`, scale };
    }
    case TYPE.BIGVARCHR:
    case TYPE.BIGCHAR:
    case TYPE.NVARCHAR:
    case TYPE.NCHAR: {
      const max = r.u16();
      r.take(5);
      const unicode = id === TYPE.NVARCHAR || id === TYPE.NCHAR;
      const type = { [TYPE.BIGVARCHR]: 'varchar', [TYPE.BIGCHAR]: 'char', [TYPE.NVARCHAR]: 'nvarchar', [TYPE.NCHAR]: 'nchar' }[id] ?? 'nvarchar';
      const bytes = max === 0xffff ? readPlp(r) : readShortLength(r);
      return { type, value: bytes === null ? null : bytes.toString(unicode ? 'utf16le' : 'latin1') };
    }
    case TYPE.BIGVARBIN:
    case TYPE.BIGBINARY: {
      const max = r.u16();
      const bytes = max === 0xffff ? readPlp(r) : readShortLength(r);
      return { type: id === TYPE.BIGVARBIN ? 'varbinary' : 'binary', value: bytes };
    }
    case TYPE.XML: {
      if (r.u8() !== 0) throw new Error('typed XML parameters are not supported by the TDS responder');
      const bytes = readPlp(r);
      return { type: 'xml', value: bytes === null ? null : bytes.toString('utf16le') };
    }
    default:
      throw new Error(`parameter type 0x${id.toString(16)} is not supported by the TDS responder`);
  }
}

function readShortLength(r: ByteReader): Buffer | null {
  const len = r.u16();
  return len === 0xffff ? null : Buffer.from(r.take(len));
}

/** PARTLENTYPE (PLP) value: an 8-byte total, then length-prefixed chunks ending with a zero-length one. */
function readPlp(r: ByteReader): Buffer | null {
  const total = r.u64();
  if (total === 0xffffffffffffffffn) return null;
  const chunks: Buffer[] = [];
  for (;;) {
    const len = r.u32();
    if (len === 0) break;
    chunks.push(Buffer.from(r.take(len)));
  }
  return Buffer.concat(chunks);
}

function decimalLength(precision: number): number {
  return precision <= 9 ? 4 : precision <= 19 ? 8 : precision <= 28 ? 12 : 16;
}

function timeLength(scale: number): number {
  return scale <= 2 ? 3 : scale <= 4 ? 4 : 5;
}

/** '123.45' at scale 3 -> 123450n, exactly. */
function scaleDecimal(text: string, scale: number): bigint {
  const match = /^([+-]?)(\d*)(?:\.(\d*))?$/.exec(text.trim());
  if (!match) throw new Error(`fixture value is not a decimal: ${text}`);
  const fraction = (match[3] ?? '').padEnd(scale, '0').slice(0, scale);
  const n = BigInt(`${match[2] || '0'}${fraction}` || '0');
  return match[1] === '-' ? -n : n;
}

function formatScaled(n: bigint, scale: number): string {
  const negative = n < 0n;
  const digits = (negative ? -n : n).toString().padStart(scale + 1, '0');
  const text = scale === 0 ? digits : `${digits.slice(0, -scale)}.${digits.slice(-scale)}`;
  return negative ? `-${text}` : text;
}

function utcDays(year: number, month: number, day: number): number {
  const date = new Date(0);
  date.setUTCFullYear(year, month - 1, day);
  return Math.floor(date.getTime() / MS_PER_DAY);
}

/** Days since 1970-01-01 and 100 ns ticks since midnight of a wall-clock string or a Date's UTC fields. */
function wallClock(value: TdsValue): { days: number; ticks: bigint } {
  if (value instanceof Date) {
    const ms = value.getTime();
    const days = Math.floor(ms / MS_PER_DAY);
    return { days, ticks: BigInt(ms - days * MS_PER_DAY) * 10_000n };
  }
  const match = WALL_CLOCK.exec(String(value));
  if (!match) throw new Error(`fixture value is not a date/time: ${String(value)}`);
  const [, y, mo, d, h = '0', mi = '0', s = '0', f = ''] = match;
  const seconds = BigInt(Number(h) * 3600 + Number(mi) * 60 + Number(s));
  return { days: utcDays(Number(y), Number(mo), Number(d)), ticks: seconds * 10_000_000n + BigInt(f.padEnd(7, '0')) };
}

/** 'YYYY-MM-DDTHH:MM:SS[.f]' with `digits` fraction digits; digits < 0 = date only. */
function formatWallClock(days: number, ticks: bigint, digits: number): string {
  const date = new Date(0);
  date.setUTCFullYear(1970, 0, 1 + days);
  const ymd = `${String(date.getUTCFullYear()).padStart(4, '0')}-${pad(date.getUTCMonth() + 1)}-${pad(date.getUTCDate())}`;
  if (digits < 0) return ymd;
  const seconds = Number(ticks / 10_000_000n);
  const fraction = (ticks % 10_000_000n).toString().padStart(7, '0').slice(0, digits);
  const hms = `${pad(Math.floor(seconds / 3600))}:${pad(Math.floor(seconds / 60) % 60)}:${pad(seconds % 60)}`;
  return `${ymd}T${hms}${digits > 0 ? `.${fraction}` : ''}`;
}

function formatOffset(minutes: number): string {
  const sign = minutes < 0 ? '-' : '+';
  const abs = Math.abs(minutes);
  return `${sign}${pad(Math.floor(abs / 60))}:${pad(abs % 60)}`;
}

function pad(n: number): string {
  return String(n).padStart(2, '0');
}

/** A GUID's 16 wire bytes: the first three groups little-endian, the last two as written. */
function guidBytes(text: string): Buffer {
  const hex = text.replace(/[{}-]/g, '');
  if (!/^[0-9a-fA-F]{32}$/.test(hex)) throw new Error(`fixture value is not a GUID: ${text}`);
  const b = Buffer.from(hex, 'hex');
  return Buffer.concat([b.subarray(0, 4).reverse(), b.subarray(4, 6).reverse(), b.subarray(6, 8).reverse(), b.subarray(8)]);
}

function guidText(wire: Buffer): string {
  const b = Buffer.concat([
    Buffer.from(wire.subarray(0, 4)).reverse(), Buffer.from(wire.subarray(4, 6)).reverse(),
    Buffer.from(wire.subarray(6, 8)).reverse(), wire.subarray(8),
  ]).toString('hex').toUpperCase();
  return `${b.slice(0, 8)}-${b.slice(8, 12)}-${b.slice(12, 16)}-${b.slice(16, 20)}-${b.slice(20)}`;
}
