import { createHash } from 'node:crypto';
import { AppError, type Cell, type ColumnInfo, type RegisteredQueryResult } from '@halo/contracts';

/**
 * Collects rows into Halo's result encoding: `data` is base64 of the UTF-8 JSON array of row objects, `rows`
 * their count, `size` the JSON's bytes: the encoding of the facade's `toHaloResult` (http/halo-result.ts), built
 * up batch by batch here so a registered query's result is bounded and hashed as it arrives.
 */
export class HaloResultEncoder {
  readonly #names: string[];
  readonly #maxBytes: number;
  #parts: string[] = [];
  #bytes = 2;

  constructor(columns: readonly ColumnInfo[], maxBytes: number) {
    this.#names = columns.map((c) => c.name);
    this.#maxBytes = maxBytes;
  }

  add(rows: readonly (readonly Cell[])[]): void {
    for (const row of rows) {
      const record: Record<string, Cell> = {};
      // defineProperty: a column named __proto__ is a plain key, not the prototype.
      this.#names.forEach((name, i) => Object.defineProperty(record, name, { value: row[i] ?? null, enumerable: true, writable: true, configurable: true }));
      const json = JSON.stringify(record);
      this.#bytes += Buffer.byteLength(json) + (this.#parts.length > 0 ? 1 : 0);
      if (this.#bytes > this.#maxBytes) throw new AppError('result_too_large', `the result exceeds ${this.#maxBytes} bytes`);
      this.#parts.push(json);
    }
  }

  /** The result and the hash of its data (base64 SHA-256 of the JSON): equal data, equal hash. */
  finish(): { result: RegisteredQueryResult; hash: string } {
    const json = Buffer.from(`[${this.#parts.join(',')}]`, 'utf8');
    return {
      result: { data: json.toString('base64'), parameters: null, rows: this.#parts.length, size: json.length },
      hash: createHash('sha256').update(json).digest('base64'),
    };
  }
}
