import { headers, type Msg, type NatsConnection } from '@nats-io/transport-node';
import {
  AppError, ChunkHeaders, KEEPALIVE_KIND, ROW_FORMATS, RequestHeaders, isAppError, joinEncoded, parseReplySubject,
  type Cell, type ChunkKind, type ColumnInfo, type EncodedRows, type EndChunk, type ErrorChunk, type RowFormat,
} from '@halo/contracts';
import type { Logger } from '@halo/log';
import type { AckChannel } from './ack-router.ts';
import { MAX_RAW_CHUNK_BYTES, clampChunkBytes, clampKeepAliveMs, clampWindow, maybeGzip } from './chunk-encoding.ts';
import { encodeJson } from './json-codec.ts';
import { atDeadline, type DeadlineTimer } from './deadline-timer.ts';

const encoder = new TextEncoder();
/**
 * Longest `meta` is held back for the first rows chunk or `end`: a small result then leaves as one write (one
 * wakeup of every process on the way) instead of three; a slow one still gets its columns promptly.
 */
export const META_HOLD_MS = 5;
/**
 * When the first keep-alive goes out if nothing else did (then every keepAliveMs): it tells the requester early
 * that the query arrived, so a requester hearing nothing knows the query or its answer was lost and may send it again.
 */
export const FIRST_KEEPALIVE_MS = 500;

/** What a sent chunk looked like (for metrics and tests; never its contents). */
export interface SentChunkInfo {
  kind: ChunkKind;
  seq: number;
  /** Bytes published (after compression). */
  bytes: number;
  gzip: boolean;
}

export interface ChunkSenderOptions {
  nc: NatsConnection;
  /** The request's reply subject, `halo.v1.r.<link>.<requester>.<query>`. */
  replySubject: string;
  acks: AckChannel;
  /** Credit window: chunk n goes out only while n - lastCredit <= window. */
  window: number;
  /** Target raw JSON bytes per rows chunk (capped at PROTOCOL_LIMITS.maxChunkBytes). */
  chunkBytes: number;
  /** Longest wait for new credit before giving up. */
  stallMs: number;
  /**
   * Send a keep-alive frame when no chunk went out for this long (the request's `Halo-Keepalive-Ms`, see
   * readRequestOptions); none when undefined, as an older requester would take the frame for a protocol error.
   */
  keepAliveMs?: number | undefined;
  /** Epoch ms: the query's overall deadline. */
  deadline: number;
  log?: Logger;
  /** Called after each chunk is published. */
  onChunk?: (info: SentChunkInfo) => void;
  /**
   * gzip of rows chunks: 'auto' (default) compresses only while the requester is the bottleneck (the sender had
   * to wait for credit), so a slow link gets smaller chunks and a fast one is not slowed by compression.
   */
  compression?: 'auto' | 'always' | 'never';
  /** Site limits: more rows or JSON bytes than these fail the stream with row_limit_exceeded / byte_limit_exceeded. */
  maxRows?: number;
  maxBytes?: number;
  /** The request's Halo-Row-Format: rows come as encoded batches (encoded()), not cells (rows()). */
  rowFormat?: RowFormat | undefined;
}

/**
 * Parses a query request's chunk size, window and keep-alive headers, clamped to the protocol's limits, with
 * defaults, and its row format (undefined: cells); an unknown row format is a bad request.
 */
export function readRequestOptions(msg: Msg): { chunkBytes: number; window: number; keepAliveMs: number | undefined; rowFormat: RowFormat | undefined } {
  const read = (name: string): number | undefined => {
    const value = msg.headers?.get(name);
    return value ? Number(value) : undefined;
  };
  const format = msg.headers?.get(RequestHeaders.rowFormat) || undefined;
  if (format !== undefined && !(ROW_FORMATS as readonly string[]).includes(format)) throw new AppError('bad_request', 'unknown row format');
  return {
    chunkBytes: clampChunkBytes(read(RequestHeaders.chunkBytes)),
    window: clampWindow(read(RequestHeaders.window)),
    keepAliveMs: clampKeepAliveMs(read(RequestHeaders.keepAliveMs)),
    rowFormat: format as RowFormat | undefined,
  };
}

/**
 * The agent's half of the chunk protocol (ARCHITECTURE §4): `meta`, then rows batched into chunks of about
 * chunkBytes of JSON (gzipped when that pays), then `end` or `error`. Calls are serialised internally.
 */
export class ChunkSender {
  /** Aborted when the requester cancels, stops granting credit for stallMs, or the deadline passes: the agent must then stop the database statement. Its reason is an AppError. While it runs, the sender sends keep-alives (keepAliveMs). */
  readonly signal: AbortSignal;

  readonly #nc: NatsConnection;
  readonly #subject: string;
  readonly #acks: AckChannel;
  readonly #window: number;
  readonly #chunkBytes: number;
  readonly #stallMs: number;
  readonly #deadline: number;
  readonly #log: Logger | undefined;
  readonly #onChunk: ((info: SentChunkInfo) => void) | undefined;
  readonly #maxBody: number;
  readonly #abort = new AbortController();
  readonly #deadlineTimer: DeadlineTimer;
  readonly #keepAliveTimer: NodeJS.Timeout | undefined;
  readonly #firstKeepAlive: NodeJS.Timeout | undefined;
  readonly #onCancel: () => void;
  /** Whether a chunk went out since the last keep-alive tick. */
  #published = false;

  #seq = 0;
  /** Rows as JSON cell arrays, or (rowFormat) encoded batches' text. */
  #buffer: string[] = [];
  #bufferBytes = 0;
  #bufferRows = 0;
  readonly #rowFormat: RowFormat | undefined;

  /** The format rows are sent in (encoded()), or undefined for cells (rows()). */
  get rowFormat(): RowFormat | undefined {
    return this.#rowFormat;
  }
  #rowCount = 0;
  #bytes = 0;
  #acceptedRows = 0;
  #acceptedBytes = 0;
  readonly #maxRows: number;
  readonly #compression: 'auto' | 'always' | 'never';
  /** Whether the last chunk had to wait for credit. */
  #congested = false;
  readonly #maxBytes: number;
  #done = false;
  #tail: Promise<unknown> = Promise.resolve();
  /** The `meta` body while it is held back (see META_HOLD_MS). */
  #heldMeta: Uint8Array | undefined;
  #metaTimer: NodeJS.Timeout | undefined;

  constructor(opts: ChunkSenderOptions) {
    if (!parseReplySubject(opts.replySubject)) throw new AppError('bad_request', 'the query has no valid reply subject');
    this.#nc = opts.nc;
    this.#subject = opts.replySubject;
    this.#acks = opts.acks;
    this.#window = clampWindow(opts.window);
    this.#chunkBytes = clampChunkBytes(opts.chunkBytes);
    this.#stallMs = opts.stallMs;
    this.#deadline = opts.deadline;
    this.#log = opts.log;
    this.#onChunk = opts.onChunk;
    this.#maxRows = opts.maxRows ?? Infinity;
    this.#compression = opts.compression ?? 'auto';
    this.#maxBytes = opts.maxBytes ?? Infinity;
    this.#rowFormat = opts.rowFormat;
    this.#maxBody = Math.min(MAX_RAW_CHUNK_BYTES, (this.#nc.info?.max_payload ?? Infinity) - 4 * 1024);
    this.signal = this.#abort.signal;
    this.#deadlineTimer = atDeadline(this.#deadline, () => this.#stop(new AppError('deadline_exceeded', 'query deadline passed')));
    // From arrival on: the query may wait for a slot, and its statement may run long before its first row.
    const keepAliveMs = clampKeepAliveMs(opts.keepAliveMs);
    if (keepAliveMs !== undefined) {
      this.#keepAliveTimer = setInterval(() => this.#keepAlive(), keepAliveMs);
      this.#firstKeepAlive = setTimeout(() => {
        if (!this.#published) this.#keepAlive();
      }, Math.min(FIRST_KEEPALIVE_MS, keepAliveMs));
    }
    this.#onCancel = () => this.#stop(this.#acks.cancelled.reason as AppError);
    if (this.#acks.cancelled.aborted) this.#onCancel();
    else this.#acks.cancelled.addEventListener('abort', this.#onCancel, { once: true });
  }

  /** Sends the `meta` chunk (seq 0): with the first rows chunk or `end` if they follow within META_HOLD_MS. */
  meta(columns: ColumnInfo[]): Promise<void> {
    return this.#serial(async () => {
      if (this.#seq !== 0 || this.#heldMeta) throw new AppError('internal', 'meta must be sent first, and once');
      this.#heldMeta = encodeJson({ columns });
      this.#metaTimer = setTimeout(() => this.#releaseMeta(), META_HOLD_MS);
    });
  }

  /** Buffers rows; sends a chunk whenever the buffer reaches chunkBytes, first waiting for credit. Resolves when the rows are buffered or sent: this await is the backpressure to the database cursor. */
  rows(batch: Cell[][]): Promise<void> {
    return this.#serial(async () => {
      if (this.#rowFormat !== undefined) throw new AppError('internal', 'cells on a stream of encoded rows');
      for (const row of batch) {
        let sent: Promise<void> | undefined;
        const json = JSON.stringify(row);
        const size = Buffer.byteLength(json) + 1;
        this.#acceptedRows++;
        this.#acceptedBytes += size;
        if (this.#acceptedRows > this.#maxRows) this.#limit(new AppError('row_limit_exceeded', `the result has more rows than this site allows (${this.#maxRows})`));
        if (this.#acceptedBytes > this.#maxBytes) this.#limit(new AppError('byte_limit_exceeded', `the result is larger than this site allows (${this.#maxBytes} bytes)`));
        if (this.#bufferBytes > 0 && this.#bufferBytes + size > this.#chunkBytes && (sent = this.#flush())) await sent;
        this.#buffer.push(json);
        this.#bufferBytes += size;
        this.#bufferRows++;
        if (this.#bufferBytes >= this.#chunkBytes && (sent = this.#flush())) await sent;
      }
    });
  }

  /**
   * Buffers a batch the connector encoded in the request's row format; chunks carry batches whole, joined, never
   * parsed. Resolves as rows() does: this await is the backpressure to the database cursor.
   */
  encoded(batch: EncodedRows): Promise<void> {
    return this.#serial(async () => {
      if (this.#rowFormat === undefined) throw new AppError('internal', 'encoded rows on a stream of cells');
      if (batch.count === 0) return;
      let sent: Promise<void> | undefined;
      const size = batch.bytes + (this.#rowFormat === 'json' ? 1 : 0);
      this.#acceptedRows += batch.count;
      this.#acceptedBytes += size;
      if (this.#acceptedRows > this.#maxRows) this.#limit(new AppError('row_limit_exceeded', `the result has more rows than this site allows (${this.#maxRows})`));
      if (this.#acceptedBytes > this.#maxBytes) this.#limit(new AppError('byte_limit_exceeded', `the result is larger than this site allows (${this.#maxBytes} bytes)`));
      if (this.#bufferBytes > 0 && this.#bufferBytes + size > this.#chunkBytes && (sent = this.#flush())) await sent;
      this.#buffer.push(batch.text);
      this.#bufferBytes += size;
      this.#bufferRows += batch.count;
      if (this.#bufferBytes >= this.#chunkBytes && (sent = this.#flush())) await sent;
    });
  }

  /** Flushes buffered rows, then sends `end` with the totals. */
  end(summary: { timings: { queuedMs: number; executionMs: number }; affected?: number; parameters?: EndChunk['parameters'] }): Promise<void> {
    return this.#serial(async () => {
      if (this.#sendWhole(summary)) return;
      // Awaited only when something has to wait (credit, gzip): a small result's meta, rows and end are then
      // published in one go, so the connection writes them together.
      let sent = this.#bufferBytes > 0 ? this.#flush() : undefined;
      if (sent) await sent;
      const body: EndChunk = { rowCount: this.#rowCount, bytes: this.#bytes, timings: summary.timings };
      if (summary.affected !== undefined) body.affected = summary.affected;
      if (summary.parameters?.length) body.parameters = summary.parameters;
      sent = this.#send('end', encodeJson(body), false);
      if (sent) await sent;
      this.#finish();
    });
  }

  /**
   * An encoded result whose meta is still held and whose rows fit one chunk goes as one `whole` message (seq 0,
   * needing no credit) instead of meta, rows and end. False when it does not qualify (cells, meta already out).
   */
  #sendWhole(summary: { timings: { queuedMs: number; executionMs: number }; affected?: number; parameters?: EndChunk['parameters'] }): boolean {
    const meta = this.#heldMeta;
    const format = this.#rowFormat;
    if (!meta || format === undefined || this.#seq !== 0 || this.#bufferBytes > this.#chunkBytes) return false;
    const rows = encoder.encode(this.#buffer.join(joinEncoded(format)));
    const count = this.#bufferRows;
    const body: EndChunk = { rowCount: count, bytes: rows.byteLength, timings: summary.timings };
    if (summary.affected !== undefined) body.affected = summary.affected;
    if (summary.parameters?.length) body.parameters = summary.parameters;
    const end = encodeJson(body);
    const whole = new Uint8Array(meta.byteLength + rows.byteLength + end.byteLength);
    whole.set(meta, 0);
    whole.set(rows, meta.byteLength);
    whole.set(end, meta.byteLength + rows.byteLength);
    this.#heldMeta = undefined;
    clearTimeout(this.#metaTimer);
    this.signal.throwIfAborted();
    this.#publish('whole', whole, false, count > 0 ? count : undefined, { meta: meta.byteLength, end: end.byteLength });
    this.#rowCount = count;
    this.#bytes = rows.byteLength;
    this.#finish();
    return true;
  }

  /** Sends an `error` chunk (best effort, never throws): code and message only. Not sent when the requester cancelled. */
  fail(err: unknown): void {
    if (this.#done) return;
    const requesterGone = this.#acks.cancelled.aborted;
    this.#finish();
    if (requesterGone) return;
    const chunk: ErrorChunk = isAppError(err)
      ? { code: err.code, message: err.message.slice(0, 1000), ...(err.sqlServerError === undefined ? {} : { sqlServerError: err.sqlServerError }) }
      : { code: 'internal', message: 'internal error' };
    try {
      // A held meta goes first, so the chunks are the same as had it been sent at once.
      this.#publishHeldMeta();
      // No credit wait: the error is terminal and tiny, and must not hang behind a stalled requester.
      this.#publish('error', encodeJson(chunk), false);
    } catch (publishErr) {
      this.#log?.warn({ err: publishErr, code: chunk.code }, 'error chunk not sent');
    }
  }

  /** A site limit was passed: stop the statement and fail the stream with that code. */
  #limit(err: AppError): never {
    this.#stop(err);
    throw err;
  }

  /** Runs operations one after another, whatever the caller awaits. */
  #serial(op: () => Promise<void>): Promise<void> {
    const run = this.#tail.then(() => {
      if (this.#done) throw new AppError('internal', 'the result stream is already finished');
      this.signal.throwIfAborted();
      return op();
    });
    this.#tail = run.catch(() => undefined);
    return run;
  }

  /** Publishes the buffered rows; returns a promise only when it has to wait (gzip, credit). */
  #flush(): Promise<void> | undefined {
    const count = this.#bufferRows;
    const format = this.#rowFormat;
    const raw = encoder.encode(format === undefined ? `[${this.#buffer.join(',')}]` : this.#buffer.join(joinEncoded(format)));
    this.#buffer = [];
    this.#bufferBytes = 0;
    this.#bufferRows = 0;
    if (raw.byteLength > this.#maxBody) {
      const err = new AppError('result_too_large', 'a row is larger than one message may carry');
      this.#stop(err);
      throw err;
    }
    const compress = this.#compression === 'always' || (this.#compression === 'auto' && this.#congested);
    const counted = () => {
      this.#rowCount += count;
      this.#bytes += raw.byteLength;
    };
    const rows = format === undefined ? undefined : count;
    if (compress) return maybeGzip(raw).then(({ body, gzip }) => this.#send('rows', body, gzip, rows)).then(counted);
    const sent = this.#send('rows', raw, false, rows);
    if (sent) return sent.then(counted);
    counted();
    return undefined;
  }

  /** Publishes a chunk, first waiting for credit if the window is full; returns a promise only when it waits. */
  #send(kind: 'rows' | 'end', body: Uint8Array, gzip: boolean, rows?: number): Promise<void> | undefined {
    this.#publishHeldMeta();
    const seq = this.#seq;
    if (seq === 0) throw new AppError('internal', 'meta must be sent first, and once');
    this.#congested = seq > this.#window && this.#acks.credit < seq - this.#window;
    if (!this.#congested) {
      this.signal.throwIfAborted();
      this.#publish(kind, body, gzip, rows);
      return undefined;
    }
    return this.#acks.waitForCredit(seq - this.#window, { stallMs: this.#stallMs, deadline: this.#deadline }).then(
      () => {
        this.signal.throwIfAborted();
        this.#publish(kind, body, gzip, rows);
      },
      (err: unknown) => {
        const reason = isAppError(err) ? err : new AppError('internal', 'waiting for credit failed', { cause: err });
        this.#stop(reason);
        throw reason;
      },
    );
  }

  /** Publishes a held `meta` (seq 0) now; it needs no credit. */
  #publishHeldMeta(): void {
    const meta = this.#heldMeta;
    if (!meta) return;
    this.#heldMeta = undefined;
    clearTimeout(this.#metaTimer);
    this.#publish('meta', meta, false);
  }

  /** META_HOLD_MS passed with no rows chunk or end: the columns go on their own. */
  #releaseMeta(): void {
    if (this.#done || this.signal.aborted) return;
    try {
      this.#publishHeldMeta();
    } catch {
      // #publish stopped the stream (the signal carries why); the agent's next call on this sender fails.
    }
  }

  /**
   * One keep-alive tick: a frame when nothing went out since the last tick, so the requester's stall timer
   * (ReplyRouter) sees a live agent however slow the database is. Two timers, one per side, each measuring the
   * other: the requester's measures this agent's silence while the agent has credit; this agent's (waitForCredit)
   * measures the requester's silence while the window is full. So no frame while the window is full: waiting for
   * credit is the requester's own doing, and its stall timer is off meanwhile.
   */
  #keepAlive(): void {
    if (this.#published) {
      this.#published = false;
      return;
    }
    if (this.#done || this.signal.aborted) return;
    if (this.#seq > this.#window && this.#acks.credit < this.#seq - this.#window) return;
    const h = headers();
    h.set(ChunkHeaders.kind, KEEPALIVE_KIND);
    h.set(ChunkHeaders.seq, String(this.#seq));
    try {
      this.#nc.publish(this.#subject, undefined, { headers: h });
    } catch (err) {
      // The connection is gone: the next chunk's publish stops the stream; the requester's stall timer covers it.
      this.#log?.debug({ err }, 'keep-alive not sent');
    }
  }

  #publish(kind: ChunkKind, body: Uint8Array, gzip: boolean, rows?: number, parts?: { meta: number; end: number }): void {
    const seq = this.#seq;
    const h = headers();
    h.set(ChunkHeaders.kind, kind);
    h.set(ChunkHeaders.seq, String(seq));
    if (gzip) h.set(ChunkHeaders.encoding, 'gzip');
    if (rows !== undefined) h.set(ChunkHeaders.rows, String(rows));
    if (parts) {
      h.set(ChunkHeaders.metaBytes, String(parts.meta));
      h.set(ChunkHeaders.endBytes, String(parts.end));
    }
    try {
      this.#nc.publish(this.#subject, body, { headers: h });
    } catch (cause) {
      const err = new AppError('internal', 'publishing a chunk failed', { cause });
      this.#stop(err);
      throw err;
    }
    this.#seq = seq + 1;
    this.#published = true;
    this.#onChunk?.({ kind, seq, bytes: body.byteLength, gzip });
  }

  /** Aborts the signal (first reason wins) so the database statement stops. */
  #stop(reason: AppError): void {
    if (this.#done || this.signal.aborted) return;
    this.#deadlineTimer.clear();
    clearInterval(this.#keepAliveTimer);
    clearTimeout(this.#firstKeepAlive);
    this.#abort.abort(reason);
    // Nothing more can be sent but an error chunk, which needs no credit: stop routing acks now, so a caller
    // that forgets fail() leaks nothing.
    this.#acks.cancelled.removeEventListener('abort', this.#onCancel);
    this.#acks.close();
  }

  #finish(): void {
    this.#done = true;
    this.#buffer = [];
    this.#bufferRows = 0;
    this.#heldMeta = undefined;
    clearTimeout(this.#metaTimer);
    this.#deadlineTimer.clear();
    clearInterval(this.#keepAliveTimer);
    clearTimeout(this.#firstKeepAlive);
    this.#acks.cancelled.removeEventListener('abort', this.#onCancel);
    this.#acks.close();
  }
}
