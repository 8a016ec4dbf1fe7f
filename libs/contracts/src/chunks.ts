import { z } from 'zod';
import { ColumnInfo, QueryTimings, ResultParameter } from './query.ts';
import { ErrorCodes } from './errors.ts';

/**
 * The chunk protocol of ARCHITECTURE §4. Every message from agent to requester on
 * `halo.v1.r.<link>.<requester>.<query>` is one chunk: headers say its kind, sequence number and encoding;
 * the body is JSON (rows chunks may be gzipped JSON).
 */
export const ChunkHeaders = {
  kind: 'Halo-Chunk',
  seq: 'Halo-Seq',
  /** "gzip" when the body is gzipped. */
  encoding: 'Halo-Encoding',
  /**
   * On a rows chunk of an encoded stream: how many rows its body holds. The body is then row-object text in the
   * request's Halo-Row-Format (json: records joined by commas; ndjson: a line each), passed on to the integrator
   * untouched. A rows chunk without it is the older form, a JSON array of cell arrays.
   */
  rows: 'Halo-Rows',
  /** On a `whole` chunk: bytes of its meta and of its end, at the start and end of the body. */
  metaBytes: 'Halo-Meta-Bytes',
  endBytes: 'Halo-End-Bytes',
} as const;

/** Headers on a query request (§4 step 1). */
export const RequestHeaders = {
  queryId: 'Halo-Query-Id',
  deadline: 'Halo-Deadline',
  chunkBytes: 'Halo-Chunk-Bytes',
  window: 'Halo-Window',
  /** How often (ms) the requester wants a keep-alive frame while the agent works without sending chunks. */
  keepAliveMs: 'Halo-Keepalive-Ms',
  /**
   * `json` or `ndjson`: the requester wants rows encoded by the agent in this format (ROW_FORMATS), so nothing on
   * the way parses them again. Without it an agent sends cell arrays (what requesters before encoded rows read).
   */
  rowFormat: 'Halo-Row-Format',
} as const;

/**
 * A keep-alive frame (`Halo-Chunk: keepalive`): proof that the agent is alive while a query waits for a slot or
 * its statement runs without producing rows. Empty body; `Halo-Seq` is the seq of the next chunk, so it takes no
 * place in the sequence and needs no credit. Not one of CHUNK_KINDS: it never carries data.
 */
export const KEEPALIVE_KIND = 'keepalive';

/**
 * `whole`: a small result of an encoded stream in one message at seq 0, instead of meta, rows and end: the body is
 * the meta JSON, the rows text (Halo-Rows of them; none when the header is absent) and the end JSON, one after the
 * other, split by Halo-Meta-Bytes and Halo-End-Bytes. One message, so one wakeup of every process on the way.
 */
export const CHUNK_KINDS = ['meta', 'rows', 'end', 'error', 'whole'] as const;
export type ChunkKind = (typeof CHUNK_KINDS)[number];

export const PROTOCOL_LIMITS = {
  /** Largest rows chunk body before compression. */
  maxChunkBytes: 256 * 1024,
  defaultChunkBytes: 128 * 1024,
  defaultWindow: 8,
  maxWindow: 64,
  /** Shortest keep-alive interval an agent honours, whatever a requester asks. */
  minKeepAliveMs: 100,
} as const;

/** Body of `meta` (seq 0): the result's columns. */
export const MetaChunk = z.object({ columns: z.array(ColumnInfo) });
export type MetaChunk = z.infer<typeof MetaChunk>;

/** Body of `rows`: an array of rows, each an array of cells in column order. */
export const RowsChunk = z.array(z.array(z.union([z.string(), z.number(), z.boolean(), z.null()])));
export type RowsChunk = z.infer<typeof RowsChunk>;

/** Body of `end`: totals of a successful result. */
export const EndChunk = z.object({
  rowCount: z.number().int().nonnegative(),
  bytes: z.number().int().nonnegative(),
  affected: z.number().int().nonnegative().optional(),
  timings: QueryTimings,
  /** A stored procedure's output, inputOutput and returnValue parameters with their values. */
  parameters: z.array(ResultParameter).max(2_100).optional(),
});
export type EndChunk = z.infer<typeof EndChunk>;

/** Body of `error`: a coded failure; no query text, parameters or row data. */
export const ErrorChunk = z.object({
  code: z.enum(ErrorCodes),
  message: z.string().max(1000),
  /** SQL Server's error number when SQL Server refused the statement. */
  sqlServerError: z.number().int().optional(),
});
export type ErrorChunk = z.infer<typeof ErrorChunk>;

/** Requester -> agent on `halo.v1.ack.<link>.<query>`: credit up to a sequence number, or cancel. */
export const AckMessage = z.union([
  z.object({ credit: z.number().int().nonnegative() }).strict(),
  z.object({ cancel: z.literal(true) }).strict(),
]);
export type AckMessage = z.infer<typeof AckMessage>;
