import { createHash } from 'node:crypto';
import { AppError, jsonArrayOf, type RegisteredQueryResult } from '@halo/contracts';
import type { RowBytes } from '@halo/messaging';

/**
 * Collects rows chunks into Halo's result encoding: `data` is base64 of the UTF-8 JSON array of row objects, `rows`
 * their count, `size` the JSON's bytes: the encoding of the facade's `toHaloResult` (http/halo-result.ts), from the
 * agent's encoded chunks as they arrive, so a registered query's result is bounded as it comes.
 */
export class HaloResultEncoder {
  readonly #maxBytes: number;
  #parts: Uint8Array[] = [];
  #bytes = 2;
  #rows = 0;

  constructor(maxBytes: number) {
    this.#maxBytes = maxBytes;
  }

  add(chunk: RowBytes): void {
    this.#bytes += chunk.bytes.byteLength + (this.#parts.length > 0 ? 1 : 0);
    if (this.#bytes > this.#maxBytes) throw new AppError('result_too_large', `the result exceeds ${this.#maxBytes} bytes`);
    this.#parts.push(chunk.bytes);
    this.#rows += chunk.count;
  }

  /** The result and the hash of its data (base64 SHA-256 of the JSON): equal data, equal hash. */
  finish(): { result: RegisteredQueryResult; hash: string } {
    const json = jsonArrayOf(this.#parts);
    return {
      result: { data: json.toString('base64'), parameters: null, rows: this.#rows, size: json.length },
      hash: createHash('sha256').update(json).digest('base64'),
    };
  }
}
