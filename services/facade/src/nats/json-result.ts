import { AppError, jsonArrayOf, type ColumnInfo, type EndChunk } from '@halo/contracts';
import type { ResultStream } from '@halo/messaging';

/** Largest JSON (non-streamed) immediate response; bigger results ask for NDJSON or async. */
export const MAX_JSON_RESULT_BYTES = 8 * 1024 * 1024;

/** A whole result as the agent encoded it: the UTF-8 JSON array of row objects, never parsed on the way. */
export interface JsonResult {
  columns: ColumnInfo[];
  /** `[` + the rows chunks joined by commas + `]`. */
  json: Buffer;
  rowCount: number;
  affected?: number;
  parameters?: EndChunk['parameters'];
  timings: EndChunk['timings'];
}

/** Reads a whole result into memory, refusing (and cancelling) one over `maxBytes` with result_too_large. */
export async function collectJsonResult(stream: ResultStream, columns: ColumnInfo[], maxBytes = MAX_JSON_RESULT_BYTES): Promise<JsonResult> {
  const parts: Uint8Array[] = [];
  let size = 2;
  for await (const chunk of stream) {
    size += chunk.bytes.byteLength + (parts.length > 0 ? 1 : 0);
    parts.push(chunk.bytes);
    if (size > maxBytes) {
      stream.cancel();
      throw new AppError('result_too_large', `the result is larger than ${maxBytes / 1024 / 1024} MB; ask for application/x-ndjson or run it async`);
    }
  }
  const summary = await stream.summary();
  return {
    columns,
    json: jsonArrayOf(parts),
    rowCount: summary.rowCount,
    ...(summary.affected !== undefined ? { affected: summary.affected } : {}),
    ...(summary.parameters ? { parameters: summary.parameters } : {}),
    timings: summary.timings,
  };
}
