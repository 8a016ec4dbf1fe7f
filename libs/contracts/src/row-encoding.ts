import type { Cell, ColumnInfo } from './query.ts';

/**
 * How rows travel from the database to the integrator (ARCHITECTURE §4): encoded once, next to the database, as
 * the bytes the facade sends. Each row is a JSON object keyed by column name. `json`: rows joined by commas, so a
 * batch (and a chunk, and a page) is the inside of a JSON array; `ndjson`: every row followed by a newline.
 */
export const ROW_FORMATS = ['json', 'ndjson'] as const;
export type RowFormat = (typeof ROW_FORMATS)[number];

/** Rows of one batch as encoded text: `count` rows, `bytes` its UTF-8 length. */
export interface EncodedRows {
  count: number;
  text: string;
  bytes: number;
}

/**
 * Encodes rows (arrays of cells in column order) as row objects. Each row becomes a plain object given to
 * JSON.stringify (V8's serialiser: twice as fast as concatenating escaped cells). A column named `__proto__` is an
 * ordinary key (defined, not assigned). As in any JSON object, keys that are array indices ("1") come first.
 */
export class RowEncoder {
  readonly #names: string[];
  /** No column named __proto__: cells can be assigned. */
  readonly #plain: boolean;
  readonly #separator: string;
  readonly #ndjson: boolean;
  /**
   * How many bytes longer a row's object text is than its cell array's JSON (the keys): a cursor that serialises
   * only the object derives from it the cell-array size its limits and summary count.
   */
  readonly keyBytes: number;

  constructor(columns: readonly ColumnInfo[], format: RowFormat) {
    this.#names = columns.map((c) => c.name);
    this.#plain = !this.#names.includes('__proto__');
    this.#ndjson = format === 'ndjson';
    this.#separator = this.#ndjson ? '' : ',';
    const nulls = columns.map(() => null);
    this.keyBytes = Buffer.byteLength(this.row(nulls)) - Buffer.byteLength(JSON.stringify(nulls));
  }

  /** One row's object text, without separator. */
  row(cells: readonly Cell[]): string {
    const names = this.#names;
    const record: Record<string, Cell> = {};
    if (this.#plain) {
      for (let i = 0; i < names.length; i++) record[names[i]!] = cells[i] ?? null;
    } else {
      for (let i = 0; i < names.length; i++) Object.defineProperty(record, names[i]!, { value: cells[i] ?? null, enumerable: true, writable: true, configurable: true });
    }
    return JSON.stringify(record);
  }

  /** Bytes a row of `rowBytes` adds to a batch already holding `count` rows (its separator included). */
  added(rowBytes: number, count: number): number {
    return rowBytes + (this.#ndjson || count > 0 ? 1 : 0);
  }

  /** Appends a row's text to a batch's text. */
  append(batch: string, row: string, count: number): string {
    if (this.#ndjson) return `${batch}${row}\n`;
    return count === 0 ? row : `${batch}${this.#separator}${row}`;
  }

  /** Rows' object texts as one batch; `textBytes` is the sum of their UTF-8 lengths (separators are added here). */
  batch(texts: readonly string[], textBytes: number): EncodedRows {
    return this.#ndjson
      ? { count: texts.length, text: `${texts.join('\n')}\n`, bytes: textBytes + texts.length }
      : { count: texts.length, text: texts.join(','), bytes: textBytes + Math.max(0, texts.length - 1) };
  }

  /** A whole batch of cells. */
  encode(rows: readonly (readonly Cell[])[]): EncodedRows {
    let text = '';
    for (let i = 0; i < rows.length; i++) text = this.append(text, this.row(rows[i]!), i);
    return { count: rows.length, text, bytes: Buffer.byteLength(text) };
  }
}

/** Joins batches or chunks of one format into one run of the same format. */
export function joinEncoded(format: RowFormat): string {
  return format === 'json' ? ',' : '';
}

/** The JSON array text of `json`-format parts (batches, chunks, pages' rows), as bytes: `[` parts joined by `,` `]`. */
export function jsonArrayOf(parts: readonly Uint8Array[]): Buffer {
  const pieces: Uint8Array[] = [OPEN];
  parts.forEach((part, i) => {
    if (i > 0) pieces.push(COMMA);
    pieces.push(part);
  });
  pieces.push(CLOSE);
  return Buffer.concat(pieces);
}

/** Byte length of jsonArrayOf(parts) without building it. */
export function jsonArrayBytes(parts: readonly Uint8Array[]): number {
  let total = 2 + Math.max(0, parts.length - 1);
  for (const part of parts) total += part.byteLength;
  return total;
}

const OPEN = Buffer.from('[');
const CLOSE = Buffer.from(']');
const COMMA = Buffer.from(',');
