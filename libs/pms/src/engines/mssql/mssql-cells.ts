import type { Cell, ColumnInfo } from '@halo/contracts';
import { toCell } from '../../connector/cells.ts';

/** The part of tedious's column metadata the mapping reads. */
export interface MssqlColumnMetadata {
  colName: string;
  type: { name: string };
  dataLength?: number | undefined;
  precision?: number | undefined;
  scale?: number | undefined;
}

/** A column as the connector reports it: its name and SQL Server type name (e.g. 'int', 'decimal(10,2)'). */
export function mssqlColumn(meta: MssqlColumnMetadata): ColumnInfo {
  return { name: meta.colName, type: typeName(meta) };
}

function typeName(meta: MssqlColumnMetadata): string {
  const length = meta.dataLength;
  switch (meta.type.name) {
    case 'IntN':
      return ({ 1: 'tinyint', 2: 'smallint', 4: 'int', 8: 'bigint' } as Record<number, string>)[length ?? 4] ?? 'int';
    case 'FloatN':
      return length === 4 ? 'real' : 'float';
    case 'MoneyN':
      return length === 4 ? 'smallmoney' : 'money';
    case 'DateTimeN':
      return length === 4 ? 'smalldatetime' : 'datetime';
    case 'BitN':
      return 'bit';
    case 'DecimalN':
    case 'NumericN':
    case 'Decimal':
    case 'Numeric':
      return `${meta.type.name.replace(/N$/, '').toLowerCase()}(${meta.precision ?? 18},${meta.scale ?? 0})`;
    case 'DateTime2':
    case 'Time':
    case 'DateTimeOffset':
      return `${meta.type.name.toLowerCase()}(${meta.scale ?? 7})`;
    default:
      return meta.type.name.toLowerCase();
  }
}

/**
 * Makes one tedious value JSON-safe: bigint, decimal and money as exact-looking strings, binary as base64,
 * date/time types as wall-clock ISO strings (datetimeoffset as UTC with Z), GUIDs as tedious gives them.
 * Decimals reach us as JS numbers (tedious's decoding), so digits beyond ~15 significant ones are not exact.
 */
export function mssqlCell(meta: MssqlColumnMetadata, value: unknown): Cell {
  if (value === null || value === undefined) return null;
  switch (meta.type.name) {
    case 'IntN':
    case 'BigInt':
      return typeof value === 'string' || typeof value === 'bigint' ? String(value) : toCell(value);
    case 'DecimalN':
    case 'NumericN':
    case 'Decimal':
    case 'Numeric':
      return fixed(value, meta.scale ?? 0);
    case 'MoneyN':
    case 'Money':
    case 'SmallMoney':
      return fixed(value, 4);
    case 'DateTimeN':
    case 'DateTime':
      return value instanceof Date ? wallClock(value, 3, 0) : toCell(value);
    case 'SmallDateTime':
      return value instanceof Date ? wallClock(value, 0, 0) : toCell(value);
    case 'DateTime2':
      return value instanceof Date ? wallClock(value, meta.scale ?? 7, nanos(value)) : toCell(value);
    case 'DateTimeOffset':
      return value instanceof Date ? `${wallClock(value, meta.scale ?? 7, nanos(value))}Z` : toCell(value);
    case 'Date':
      return value instanceof Date ? wallClock(value, 0, 0).slice(0, 10) : toCell(value);
    case 'Time':
      return value instanceof Date ? wallClock(value, meta.scale ?? 7, nanos(value)).slice(11) : toCell(value);
    default:
      return toCell(value);
  }
}

function fixed(value: unknown, scale: number): Cell {
  if (typeof value !== 'number' || !Number.isFinite(value) || Math.abs(value) >= 1e21) return toCell(value);
  return value.toFixed(scale);
}

function nanos(date: Date): number {
  const delta = (date as Date & { nanosecondsDelta?: unknown }).nanosecondsDelta;
  return typeof delta === 'number' ? delta : 0;
}

/** 'YYYY-MM-DDTHH:MM:SS[.f…]' from a Date's UTC fields plus tedious's sub-millisecond remainder (seconds). */
function wallClock(date: Date, digits: number, extraSeconds: number): string {
  const iso = date.toISOString(); // YYYY-MM-DDTHH:MM:SS.mmmZ (years 0001-9999 keep four digits)
  const base = iso.slice(0, 19);
  if (digits === 0) return base;
  const ticks = date.getUTCMilliseconds() * 10_000 + Math.round(extraSeconds * 1e7);
  return `${base}.${String(ticks).padStart(7, '0').slice(0, digits)}`;
}
