import { promisify } from 'node:util';
import { gunzip, gzip } from 'node:zlib';
import { AppError, PROTOCOL_LIMITS } from '@halo/contracts';
import { MAX_TIMER_MS } from './deadline-timer.ts';

const gzipAsync = promisify(gzip);
const gunzipAsync = promisify(gunzip);

/** Rows chunks at or below this many raw bytes are never compressed (not worth the CPU). */
export const GZIP_MIN_BYTES = 8 * 1024;
/** Compression is kept only when it saves more than this fraction of the raw bytes. */
const GZIP_MIN_SAVING = 0.1;
/** Fastest level: most of the saving on row data for a fraction of the CPU of the default. (ChunkSender's
 * `compression: 'never'` turns it off; libraries read no environment variables.) */
const GZIP_LEVEL = 1;

/**
 * Largest raw (uncompressed) chunk body: the 1 MiB max_payload of every Halo server, less room for headers.
 * Bounding the raw size, not the gzipped one, also bounds what a receiver inflates.
 */
export const MAX_RAW_CHUNK_BYTES = 1024 * 1024 - 4 * 1024;

const ZLIB_CHUNK = 1024 * 1024;

/** Clamps a requested chunk size / window into the protocol's range; garbage becomes the default. */
export function clampChunkBytes(value: number | undefined): number {
  if (value === undefined || !Number.isFinite(value)) return PROTOCOL_LIMITS.defaultChunkBytes;
  return Math.min(Math.max(Math.floor(value), 1024), PROTOCOL_LIMITS.maxChunkBytes);
}

export function clampWindow(value: number | undefined): number {
  if (value === undefined || !Number.isFinite(value)) return PROTOCOL_LIMITS.defaultWindow;
  return Math.min(Math.max(Math.floor(value), 1), PROTOCOL_LIMITS.maxWindow);
}

/** A requested keep-alive interval, at least PROTOCOL_LIMITS.minKeepAliveMs; none asked (or garbage) means none. */
export function clampKeepAliveMs(value: number | undefined): number | undefined {
  if (value === undefined || !Number.isFinite(value) || value <= 0) return undefined;
  return Math.min(Math.max(Math.floor(value), PROTOCOL_LIMITS.minKeepAliveMs), MAX_TIMER_MS);
}

/** Gzips a rows body when it is big enough and compression pays; runs on the thread pool, never the event loop. */
export async function maybeGzip(raw: Uint8Array): Promise<{ body: Uint8Array; gzip: boolean }> {
  if (raw.byteLength <= GZIP_MIN_BYTES) return { body: raw, gzip: false };
  // One output buffer for the whole chunk: zlib's default 16 KiB would call back into JS once per 16 KiB.
  const packed = await gzipAsync(raw, { level: GZIP_LEVEL, chunkSize: ZLIB_CHUNK });
  if (packed.byteLength < raw.byteLength * (1 - GZIP_MIN_SAVING)) return { body: packed, gzip: true };
  return { body: raw, gzip: false };
}

/** Inflates a gzipped body, refusing anything larger than a raw chunk may be (a gzip bomb is a protocol error). */
export async function gunzipBody(body: Uint8Array): Promise<Uint8Array> {
  try {
    return await gunzipAsync(body, { maxOutputLength: MAX_RAW_CHUNK_BYTES, chunkSize: ZLIB_CHUNK });
  } catch (cause) {
    throw new AppError('internal', 'chunk protocol violation: bad gzip body', { cause });
  }
}
