import type { Cell } from '@halo/contracts';

const MIN_SAFE = BigInt(Number.MIN_SAFE_INTEGER);
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/** Makes one driver value JSON-safe: big integers as strings, binary as base64, dates as ISO strings. */
export function toCell(value: unknown): Cell {
  if (value === null || value === undefined) return null;
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return value;
    case 'number':
      // JSON would turn Infinity into null and lose the value; a string keeps it visible.
      return Number.isFinite(value) ? value : String(value);
    case 'bigint':
      return value >= MIN_SAFE && value <= MAX_SAFE ? Number(value) : value.toString();
  }
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? null : value.toISOString();
  if (value instanceof Uint8Array) return Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('base64');
  return String(value);
}

/** UTF-8 length of JSON.stringify(row); rows total 2 + sum + (n - 1) commas, so sizes add up exactly. */
export function rowBytes(row: readonly Cell[]): number {
  return Buffer.byteLength(JSON.stringify(row));
}

/** A lower bound of the JSON bytes raw driver values take as cells, known before converting them. */
export function rawBytes(values: readonly unknown[]): number {
  let total = 0;
  for (const value of values) {
    if (typeof value === 'string') total += value.length;
    else if (value instanceof Uint8Array) total += Math.ceil(value.byteLength / 3) * 4;
  }
  return total;
}
