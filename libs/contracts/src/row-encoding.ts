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
 * Encodes rows (arrays of cells in column order) as row objects: the text JSON.stringify gives for a plain object
 * with one property per column, in the object's own key order (array-index keys such as "1" first, ascending; a
 * repeated name keeps its first place and its last value; `__proto__` is an ordinary key). The text is built by
 * a function made for the column layout: the keys' JSON, each cell's JSON between them, unrolled (a quarter
 * cheaper than an object given to JSON.stringify, measured per row of four columns). The generated code holds
 * only cell indexes; keys and cells are its arguments, never its source text.
 */
export class RowEncoder {
  readonly #encode: (cells: readonly Cell[]) => string;
  readonly #separator: string;
  readonly #ndjson: boolean;
  /**
   * How many bytes longer a row's object text is than its cell array's JSON (the keys): a cursor that serialises
   * only the object derives from it the cell-array size its limits and summary count.
   */
  readonly keyBytes: number;

  constructor(columns: readonly ColumnInfo[], format: RowFormat) {
    this.#encode = rowFunction(columns.map((c) => c.name));
    this.#ndjson = format === 'ndjson';
    this.#separator = this.#ndjson ? '' : ',';
    const nulls = columns.map(() => null);
    this.keyBytes = Buffer.byteLength(this.row(nulls)) - Buffer.byteLength(JSON.stringify(nulls));
  }

  /** One row's object text, without separator. */
  row(cells: readonly Cell[]): string {
    return this.#encode(cells);
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

/** A cell's JSON: what JSON.stringify writes for it as an object's value (a missing cell is null). */
function cellJson(value: Cell | undefined): string {
  if (typeof value === 'number') return Number.isFinite(value) ? `${value}` : 'null';
  return JSON.stringify(value ?? null);
}

type Template = (keys: readonly string[], cell: typeof cellJson) => (cells: readonly Cell[]) => string;

/** Generated templates by layout (which cell goes after each key): most results share a few plain layouts. */
const templates = new Map<string, Template>();
const MAX_TEMPLATES = 256;

/** The row-text function of one list of column names. */
function rowFunction(names: readonly string[]): (cells: readonly Cell[]) => string {
  // The object's key order and each key's cell, as JavaScript itself orders an object's own keys.
  const last: Record<string, number> = Object.create(null) as Record<string, number>;
  names.forEach((name, index) => {
    last[name] = index;
  });
  const order = Object.keys(last);
  const indexes = order.map((name) => last[name]!);
  const keys = order.map((name, i) => `${i === 0 ? '{' : ','}${JSON.stringify(name)}:`);
  if (order.length === 0) return () => '{}';
  const layout = indexes.join(',');
  let template = templates.get(layout);
  if (!template) {
    const body = indexes.map((index, i) => `k[${i}] + j(c[${index}])`).join(' + ');
    template = new Function('k', 'j', `return (c) => ${body} + '}';`) as Template;
    if (templates.size >= MAX_TEMPLATES) templates.clear();
    templates.set(layout, template);
  }
  return template(keys, cellJson);
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
