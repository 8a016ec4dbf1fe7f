import { headers, type Msg, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import {
  AppError, CHUNK_KINDS, ChunkHeaders, EndChunk, ErrorChunk, KEEPALIVE_KIND, MetaChunk, PROTOCOL_LIMITS, RequestHeaders,
  RowEncoder, isAppError, parseReplySubject, subjects,
  type AckMessage, type Cell, type ChunkKind, type ColumnInfo, type QueryRequest, type RowFormat,
} from '@halo/contracts';
import type { Logger } from '@halo/log';
import { clampChunkBytes, clampKeepAliveMs, clampWindow, gunzipBody } from './chunk-encoding.ts';
import { decodeJson, encodeJson } from './json-codec.ts';
import { atDeadline, MAX_TIMER_MS, type DeadlineTimer } from './deadline-timer.ts';

/** Default longest silence of an agent (no chunk, no keep-alive) while it has credit to send. */
export const DEFAULT_STALL_MS = 30_000;
/** The keep-alive interval asked of the agent by default: a third of the stall timeout, so one lost frame is no stall. */
export const KEEPALIVE_FRACTION = 1 / 3;

export interface ResultStreamOptions {
  /**
   * The format the agent encodes rows in (default json): the stream yields that text as it arrived, never parsed
   * (see RowBytes). Rows from an agent older than encoded rows are encoded here instead.
   */
  rowFormat?: RowFormat;
  /** Credit window (default PROTOCOL_LIMITS.defaultWindow, at most maxWindow). */
  window?: number;
  /** Raw JSON bytes per rows chunk (default PROTOCOL_LIMITS.defaultChunkBytes, at most maxChunkBytes). */
  chunkBytes?: number;
  /**
   * Longest silence of the agent (no chunk, no keep-alive) while it has credit, from the request on; then the
   * stream fails with `agent_lost` (default DEFAULT_STALL_MS). A slow database is not silence: the agent sends
   * keep-alives while the statement runs.
   */
  stallMs?: number;
  /** How often the agent is asked to send a keep-alive while it sends no chunks (default stallMs / 3). */
  keepAliveMs?: number;
  /** Aborting it cancels the query. */
  signal?: AbortSignal;
  /**
   * Epoch ms: until then a "no responders" answer before any chunk (the site's leaf is moving to another hub node)
   * sends the query again every OFFLINE_RESEND_MS instead of ending the stream with `site_offline`. The stream stays
   * routed meanwhile, so an answer to an earlier send (one that reached the agent although the hub said nobody
   * listened) is still taken. Default: no resend.
   */
  resendOfflineUntil?: number;
  /**
   * Also send the query again (until resendOfflineUntil) when nothing at all came from the agent for this long, not
   * even its first keep-alive (FIRST_KEEPALIVE_MS after arrival): the query or its answer was lost while a hub node
   * died or handed its connections over. Only for a query that may run twice (a read); the agent drops a copy that
   * arrives while the first runs, and the stream drops a second answer. Default: never.
   */
  resendUnansweredMs?: number;
}

/** Pause between two sends of a query nobody answered (see ResultStreamOptions.resendOfflineUntil). */
export const OFFLINE_RESEND_MS = 250;

/**
 * One rows chunk: `count` rows of row-object text in the stream's row format, as the agent encoded them. For json
 * the bytes are records joined by commas (chunks join with a comma into one array's inside); for ndjson, lines.
 * Only the frame was checked (sequence, link, row count, that it starts and ends as records do): the rows are the
 * agent's site's data and are passed on, not parsed.
 */
export interface RowBytes {
  count: number;
  bytes: Uint8Array;
}

/** The rows of one query as they arrive from the agent (ARCHITECTURE §4). */
export interface ResultStream extends AsyncIterable<RowBytes> {
  readonly queryId: string;
  /** Resolves with the columns when `meta` arrives; rejects with the AppError that ended the stream first. */
  columns(): Promise<ColumnInfo[]>;
  /** Rows chunks in order; credit for a chunk is granted when the next one is asked for. Throws the AppError on error, stall, deadline or cancel. */
  [Symbol.asyncIterator](): AsyncIterator<RowBytes>;
  /** Totals from the `end` chunk; resolves once iteration has consumed it. */
  summary(): Promise<EndChunk>;
  /** Sends cancel to the agent and ends the stream with AppError('cancelled'). Idempotent. */
  cancel(): void;
}

export interface ReplyRouterOptions {
  nc: NatsConnection;
  /** Whole subject token naming this requester process (e.g. a nuid). */
  requesterId: string;
  log: Logger;
}

/**
 * One per requester process: subscribes once to `halo.v1.r.*.<requesterId>.>` and routes chunks to open queries
 * by query id, dropping chunks whose link token is not the link the query was sent to. Never respond()s to
 * anything it receives (an agent controls the reply subject of what it publishes).
 */
export class ReplyRouter {
  readonly requesterId: string;
  readonly #nc: NatsConnection;
  readonly #log: Logger;
  readonly #sub: Subscription;
  readonly #streams = new Map<string, Stream>();
  #closed = false;

  constructor(opts: ReplyRouterOptions) {
    this.requesterId = opts.requesterId;
    this.#nc = opts.nc;
    this.#log = opts.log;
    this.#sub = opts.nc.subscribe(subjects.replyWildcard(opts.requesterId), {
      callback: (err, msg) => {
        if (err) this.#log.error({ err }, 'reply subscription failed');
        else this.#route(msg);
      },
    });
  }

  /** Publishes the query to its site's subject with reply `halo.v1.r.<link>.<requester>.<query>` and returns its result stream. */
  start(target: { linkGuid: string }, request: QueryRequest, options: ResultStreamOptions = {}): ResultStream {
    if (this.#closed) throw new AppError('internal', 'reply router closed');
    // Not validated again here: requesters build it from what they validated, and the agent validates what it gets.
    if (this.#streams.has(request.queryId)) throw new AppError('bad_request', 'duplicate query id');
    const window = clampWindow(options.window);
    const chunkBytes = clampChunkBytes(options.chunkBytes);
    const stallMs = options.stallMs ?? DEFAULT_STALL_MS;
    const keepAliveMs = clampKeepAliveMs(options.keepAliveMs ?? stallMs * KEEPALIVE_FRACTION) ?? PROTOCOL_LIMITS.minKeepAliveMs;
    const rowFormat = options.rowFormat ?? 'json';
    const stream = new Stream({
      rowFormat,
      nc: this.#nc,
      log: this.#log,
      linkGuid: target.linkGuid,
      queryId: request.queryId,
      window,
      stallMs,
      deadline: request.deadline,
      signal: options.signal,
      resendOfflineUntil: options.resendOfflineUntil ?? 0,
      resendUnansweredMs: options.resendUnansweredMs,
      release: (s) => {
        if (this.#streams.get(s.queryId) === s) this.#streams.delete(s.queryId);
      },
    });
    if (stream.finished) return stream; // already cancelled or past its deadline: nothing is sent
    this.#streams.set(request.queryId, stream);
    const h = headers();
    h.set(RequestHeaders.queryId, request.queryId);
    h.set(RequestHeaders.deadline, String(request.deadline));
    h.set(RequestHeaders.chunkBytes, String(chunkBytes));
    h.set(RequestHeaders.window, String(window));
    h.set(RequestHeaders.keepAliveMs, String(keepAliveMs));
    h.set(RequestHeaders.rowFormat, rowFormat);
    const body = encodeJson(request);
    const publish = () => {
      try {
        // A plain publish with a reply subject: when nobody serves the subject the server answers a 503 status
        // on the reply subject, which the stream reads as site_offline (or sends again, see resendOfflineUntil).
        this.#nc.publish(subjects.query(target.linkGuid, request.haloGuid), body, {
          reply: subjects.reply(target.linkGuid, this.requesterId, request.queryId),
          headers: h,
        });
      } catch (cause) {
        stream.abort(new AppError('internal', 'publishing the query failed', { cause }), false);
      }
    };
    stream.resend = publish;
    publish();
    stream.sent();
    return stream;
  }

  /** Ends every open stream (cancelling it at its agent) and unsubscribes. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const stream of [...this.#streams.values()]) stream.abort(new AppError('internal', 'reply router closed'), true);
    this.#streams.clear();
    try {
      this.#sub.unsubscribe();
      await this.#nc.flush();
    } catch (err) {
      this.#log.debug({ err }, 'reply router close: connection already closed');
    }
  }

  #route(msg: Msg): void {
    const parsed = parseReplySubject(msg.subject);
    if (!parsed) return;
    const stream = this.#streams.get(parsed.queryId);
    if (!stream) {
      // Normal for chunks in flight after a cancel, stall or deadline.
      this.#log.debug({ queryId: parsed.queryId }, 'chunk for no open query dropped');
      return;
    }
    if (parsed.linkGuid !== stream.linkGuid) {
      this.#log.warn({ queryId: parsed.queryId, linkGuid: parsed.linkGuid, expectedLinkGuid: stream.linkGuid }, 'chunk from another link dropped');
      return;
    }
    stream.receive(msg);
  }
}

type Item = { seq: number; kind: 'rows'; rows: Promise<RowBytes> } | { seq: number; kind: 'end'; end: EndChunk };

interface StreamOptions {
  rowFormat: RowFormat;
  nc: NatsConnection;
  log: Logger;
  linkGuid: string;
  queryId: string;
  window: number;
  stallMs: number;
  deadline: number;
  signal: AbortSignal | undefined;
  resendOfflineUntil: number;
  resendUnansweredMs: number | undefined;
  release: (stream: Stream) => void;
}

class Deferred<T> {
  readonly promise: Promise<T>;
  resolve!: (value: T) => void;
  reject!: (err: unknown) => void;
  constructor() {
    this.promise = new Promise<T>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
    // Callers may never ask; the rejection is theirs to see only if they do.
    this.promise.catch(() => undefined);
  }
}

class Stream implements ResultStream {
  readonly queryId: string;
  readonly linkGuid: string;
  readonly #nc: NatsConnection;
  readonly #log: Logger;
  readonly #window: number;
  readonly #stallMs: number;
  readonly #ackSubject: string;
  readonly #signal: AbortSignal | undefined;
  readonly #release: (stream: Stream) => void;
  readonly #columns = new Deferred<ColumnInfo[]>();
  readonly #summary = new Deferred<EndChunk>();
  readonly #onAbort = () => this.cancel();
  readonly #rowFormat: RowFormat;
  /** Encodes the cells of an agent older than encoded rows (made once meta names the columns). */
  #cellEncoder: RowEncoder | undefined;
  /** Rows yielded so far: the end chunk's rowCount must match. */
  #rowsYielded = 0;

  /** Next sequence number expected from the agent. */
  #expected = 0;
  /** Highest sequence number credited to the agent. */
  #granted = 0;
  /** Highest sequence number the consumer has finished with. */
  #consumed = 0;
  #lastYielded: number | undefined;
  #queue: Item[] = [];
  #waiters: Array<() => void> = [];
  #metaReceived = false;
  #endReceived = false;
  #completed = false;
  #failure: AppError | undefined;
  #iterating = false;
  #released = false;
  #stallTimer: NodeJS.Timeout | undefined;
  #deadlineTimer: DeadlineTimer | undefined;
  readonly #resendOfflineUntil: number;
  readonly #resendUnansweredMs: number | undefined;
  #resendTimer: NodeJS.Timeout | undefined;
  #unansweredTimer: NodeJS.Timeout | undefined;
  /** Whether anything (a chunk or keep-alive) came from the agent. */
  #heard = false;
  /** Whether the query went out more than once: an agent may then answer twice, and the second answer is dropped. */
  #resent = false;
  /** Publishes the query again (set by the router once the stream is registered). */
  resend: () => void = () => undefined;

  constructor(opts: StreamOptions) {
    this.#rowFormat = opts.rowFormat;
    this.queryId = opts.queryId;
    this.linkGuid = opts.linkGuid;
    this.#nc = opts.nc;
    this.#log = opts.log;
    this.#window = opts.window;
    this.#stallMs = Math.min(Math.max(opts.stallMs, 1), MAX_TIMER_MS);
    this.#ackSubject = subjects.ack(opts.linkGuid, opts.queryId);
    this.#signal = opts.signal;
    this.#release = opts.release;
    this.#resendOfflineUntil = opts.resendOfflineUntil;
    this.#resendUnansweredMs = opts.resendUnansweredMs;
    const left = opts.deadline - Date.now();
    if (this.#signal?.aborted) {
      this.abort(new AppError('cancelled', 'the query was cancelled'), false);
    } else if (left <= 0) {
      this.abort(new AppError('deadline_exceeded', 'query deadline passed'), false);
    } else {
      this.#signal?.addEventListener('abort', this.#onAbort, { once: true });
      this.#deadlineTimer = atDeadline(opts.deadline, () => this.abort(new AppError('deadline_exceeded', 'query deadline passed'), true));
      this.#armStall();
    }
  }

  /** True once the stream failed or its end was consumed. */
  get finished(): boolean {
    return this.#failure !== undefined || this.#completed;
  }

  columns(): Promise<ColumnInfo[]> {
    return this.#columns.promise;
  }

  summary(): Promise<EndChunk> {
    return this.#summary.promise;
  }

  cancel(): void {
    if (this.finished) return;
    this.#log.info({ queryId: this.queryId }, 'query cancelled by the requester');
    this.abort(new AppError('cancelled', 'the query was cancelled'), true);
  }

  [Symbol.asyncIterator](): AsyncIterator<RowBytes> {
    if (this.#iterating) throw new AppError('internal', 'a result stream can be iterated only once');
    this.#iterating = true;
    return {
      next: () => this.#next(),
      return: async () => {
        // The consumer stopped early (break, throw, client gone): the agent must stop too.
        if (!this.finished) this.cancel();
        return { done: true, value: undefined };
      },
    };
  }

  /** The query went out: arms the resend of an unanswered query (see ResultStreamOptions.resendUnansweredMs). */
  sent(): void {
    const after = this.#resendUnansweredMs;
    if (after === undefined || this.finished || this.#heard) return;
    clearTimeout(this.#unansweredTimer);
    this.#unansweredTimer = setTimeout(() => {
      this.#unansweredTimer = undefined;
      if (this.finished || this.#heard || this.#resendTimer || Date.now() >= this.#resendOfflineUntil) return;
      this.#log.info({ queryId: this.queryId, linkGuid: this.linkGuid, afterMs: after }, 'nothing heard from the agent: query sent again');
      this.#resent = true;
      this.resend();
      this.sent();
    }, after);
  }

  /** One chunk from the router, already checked to come from the right link. */
  receive(msg: Msg): void {
    if (this.#failure || this.#endReceived) return;
    const h = msg.headers;
    if (!h?.hasError) {
      this.#heard = true;
      clearTimeout(this.#unansweredTimer);
    }
    if (h?.hasError) {
      if (h.code === 503) this.#offline();
      else this.#protocolError('unexpected status message', { status: h.code });
      return;
    }
    const kind = h?.get(ChunkHeaders.kind) ?? '';
    const seqText = h?.get(ChunkHeaders.seq) ?? '';
    const seq = Number(seqText);
    if (kind === KEEPALIVE_KIND) {
      // It names the next chunk: a higher seq means chunks were lost on the way.
      if (seqText === '' || seq !== this.#expected) return this.#protocolError('keep-alive out of sequence', { seq, expected: this.#expected });
      this.#armStall();
      return;
    }
    if (!isChunkKind(kind) || seqText === '' || !Number.isSafeInteger(seq)) return this.#protocolError('chunk without kind or seq', {});
    // A second answer of a query sent again: the first one is being taken.
    if (seq < this.#expected && this.#resent) return;
    if (seq !== this.#expected) return this.#protocolError(seq < this.#expected ? 'duplicate chunk' : 'gap in the chunk sequence', { seq, kind });
    if (kind === 'error') {
      // Errors are sent without waiting for credit, so they are exempt from the window check.
      let chunk: ErrorChunk;
      try {
        chunk = decodeJson(ErrorChunk, msg.data);
      } catch {
        return this.#protocolError('malformed error chunk', { seq });
      }
      this.abort(new AppError(chunk.code, chunk.message, chunk.sqlServerError === undefined ? undefined : { sqlServerError: chunk.sqlServerError }), false);
      return;
    }
    if (kind === 'whole') return this.#whole(msg, seq);
    if ((seq === 0) !== (kind === 'meta')) return this.#protocolError('meta must be chunk 0, and only it', { seq, kind });
    if (seq > this.#granted + this.#window) return this.#protocolError('chunk outside the credit window', { seq, kind });
    this.#expected = seq + 1;
    if (kind === 'meta') {
      let meta: MetaChunk;
      try {
        meta = decodeJson(MetaChunk, msg.data);
      } catch {
        return this.#protocolError('malformed meta chunk', { seq });
      }
      this.#metaReceived = true;
      this.#cellEncoder = new RowEncoder(meta.columns, this.#rowFormat);
      this.#columns.resolve(meta.columns);
    } else if (kind === 'rows') {
      const rows = decodeRows(msg.data, msg.headers, this.#rowFormat, this.#cellEncoder!);
      rows.catch((err: unknown) => this.#protocolError('malformed rows chunk', { seq, err }));
      this.#queue.push({ seq, kind, rows });
    } else {
      let end: EndChunk;
      try {
        end = decodeJson(EndChunk, msg.data);
      } catch {
        return this.#protocolError('malformed end chunk', { seq });
      }
      this.#endReceived = true;
      this.#queue.push({ seq, kind, end });
      // Nothing more comes from the agent: stop routing and timing; the consumer drains what is buffered.
      this.#releaseRouting();
    }
    this.#armStall();
    this.#wake();
  }

  /** A `whole` chunk: meta, rows and end of a small encoded result in one message at seq 0. */
  #whole(msg: Msg, seq: number): void {
    if (seq !== 0) return this.#protocolError('a whole result must be chunk 0', { seq });
    const body = msg.data;
    const metaBytes = Number(msg.headers?.get(ChunkHeaders.metaBytes) ?? '');
    const endBytes = Number(msg.headers?.get(ChunkHeaders.endBytes) ?? '');
    if (!Number.isSafeInteger(metaBytes) || !Number.isSafeInteger(endBytes) || metaBytes <= 0 || endBytes <= 0 || metaBytes + endBytes > body.byteLength) {
      return this.#protocolError('whole result without its parts', { seq });
    }
    let meta: MetaChunk;
    let end: EndChunk;
    try {
      meta = decodeJson(MetaChunk, body.subarray(0, metaBytes));
      end = decodeJson(EndChunk, body.subarray(body.byteLength - endBytes));
    } catch {
      return this.#protocolError('malformed whole result', { seq });
    }
    const rowsBody = body.subarray(metaBytes, body.byteLength - endBytes);
    const hasRows = (msg.headers?.get(ChunkHeaders.rows) ?? '') !== '';
    if (!hasRows && rowsBody.byteLength > 0) return this.#protocolError('whole result with rows it does not count', { seq });
    this.#expected = 1;
    this.#metaReceived = true;
    this.#columns.resolve(meta.columns);
    if (hasRows) {
      // Encoded rows only: a whole result comes from an agent that encodes them (never the cell form).
      const rows = decodeRows(rowsBody, msg.headers, this.#rowFormat, undefined);
      rows.catch((err: unknown) => this.#protocolError('malformed rows chunk', { seq, err }));
      this.#queue.push({ seq: 0, kind: 'rows', rows });
    }
    this.#endReceived = true;
    this.#queue.push({ seq: 0, kind: 'end', end });
    this.#releaseRouting();
    this.#wake();
  }

  /** Nobody served the query's subject: send it again while resendOfflineUntil allows and nothing came yet, else site_offline. */
  #offline(): void {
    if (this.#resendTimer) return;
    // Chunks came: an earlier send got through, and this answers a later one.
    if (this.#expected > 0 && this.#resent) return;
    if (this.#expected > 0 || Date.now() + OFFLINE_RESEND_MS >= this.#resendOfflineUntil) {
      this.abort(new AppError('site_offline', 'the site is offline'), false);
      return;
    }
    this.#resendTimer = setTimeout(() => {
      this.#resendTimer = undefined;
      if (this.finished || this.#expected > 0) return;
      this.#resent = true;
      this.resend();
      this.sent();
    }, OFFLINE_RESEND_MS);
  }

  /** Ends the stream with `err`; `notifyAgent` publishes cancel so the agent stops its statement. */
  abort(err: AppError, notifyAgent: boolean): void {
    if (this.finished) return;
    clearTimeout(this.#resendTimer);
    clearTimeout(this.#unansweredTimer);
    this.#resendTimer = undefined;
    this.#failure = err;
    const notify = notifyAgent && !this.#endReceived;
    this.#releaseRouting();
    this.#queue = [];
    this.#columns.reject(err);
    this.#summary.reject(err);
    this.#wake();
    if (notify) this.#publishAck({ cancel: true });
  }

  async #next(): Promise<IteratorResult<RowBytes>> {
    if (this.#lastYielded !== undefined) {
      this.#consumed = this.#lastYielded;
      this.#lastYielded = undefined;
      this.#maybeGrant();
    }
    for (;;) {
      if (this.#failure) throw this.#failure;
      if (this.#completed) return { done: true, value: undefined };
      const item = this.#queue.shift();
      if (item?.kind === 'end') {
        // Rows the frames announced and rows the agent counted must agree, or a chunk went missing or was forged.
        if (item.end.rowCount !== this.#rowsYielded) {
          this.#protocolError('end counts other rows than the chunks carried', { rowCount: item.end.rowCount, rows: this.#rowsYielded });
          throw this.#failure;
        }
        this.#completed = true;
        this.#summary.resolve(item.end);
        return { done: true, value: undefined };
      }
      if (item) {
        let rows: RowBytes;
        try {
          rows = await item.rows;
        } catch (err) {
          this.abort(isAppError(err) ? err : new AppError('internal', 'chunk protocol violation'), true);
          throw this.#failure ?? err;
        }
        if (this.#failure) throw this.#failure;
        this.#lastYielded = item.seq;
        this.#rowsYielded += rows.count;
        return { done: false, value: rows };
      }
      await new Promise<void>((resolve) => this.#waiters.push(resolve));
    }
  }

  /** Credits in batches of half a window: few acks, and the agent still always has chunks in flight. */
  #maybeGrant(): void {
    if (this.#endReceived || this.#failure) return;
    if (this.#consumed - this.#granted < Math.max(1, Math.floor(this.#window / 2))) return;
    this.#granted = this.#consumed;
    this.#publishAck({ credit: this.#granted });
    // The agent may have been blocked on credit (stall timer off): it now owes us a chunk.
    if (!this.#stallTimer) this.#armStall();
  }

  /**
   * Restarts the stall timer, which measures the agent's silence: it runs from the request on (the agent sends
   * keep-alives while the query waits for a slot and while its statement runs, so a slow database is never
   * silence), but only while the agent has credit to send. With the window full the agent waits for us, and a
   * slow consumer must not time out its own agent; the agent's own timer (AckChannel.waitForCredit) then
   * measures us instead.
   */
  #armStall(): void {
    clearTimeout(this.#stallTimer);
    this.#stallTimer = undefined;
    if (this.#endReceived || this.#failure) return;
    if (this.#expected - 1 >= this.#granted + this.#window) return;
    this.#stallTimer = setTimeout(() => {
      this.#stallTimer = undefined;
      this.#log.warn({ queryId: this.queryId, linkGuid: this.linkGuid, stallMs: this.#stallMs, metaReceived: this.#metaReceived }, 'result stream stalled');
      this.abort(new AppError('agent_lost', `no chunk or keep-alive from the agent for ${this.#stallMs} ms`), true);
    }, this.#stallMs);
  }

  #protocolError(reason: string, context: Record<string, unknown>): void {
    if (this.finished) return;
    this.#log.warn({ queryId: this.queryId, linkGuid: this.linkGuid, reason, ...context }, 'chunk protocol violation');
    this.abort(new AppError('internal', 'chunk protocol violation'), true);
  }

  #publishAck(ack: AckMessage): void {
    try {
      this.#nc.publish(this.#ackSubject, encodeJson(ack));
    } catch (err) {
      this.#log.debug({ queryId: this.queryId, err }, 'ack not sent');
    }
  }

  #releaseRouting(): void {
    if (this.#released) return;
    this.#released = true;
    clearTimeout(this.#stallTimer);
    this.#deadlineTimer?.clear();
    this.#stallTimer = undefined;
    this.#signal?.removeEventListener('abort', this.#onAbort);
    this.#release(this);
  }

  #wake(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const resolve of waiters) resolve();
  }
}

function isChunkKind(value: string): value is ChunkKind {
  return (CHUNK_KINDS as readonly string[]).includes(value);
}

/**
 * A rows chunk as row text: encoded rows are checked as a frame only (a positive row count; the body starts and
 * ends as records do; for ndjson, one line per row), cells of an older agent are checked and encoded here.
 */
async function decodeRows(data: Uint8Array, h: Msg['headers'], format: RowFormat, cells: RowEncoder | undefined): Promise<RowBytes> {
  const gzip = h?.get(ChunkHeaders.encoding) === 'gzip';
  const body = gzip ? await gunzipBody(data) : data;
  const announced = h?.get(ChunkHeaders.rows) ?? '';
  if (announced === '') {
    if (!cells) throw new AppError('internal', 'chunk protocol violation: rows without a row count');
    const rows = parseCells(body);
    const encoded = cells.encode(rows);
    return { count: encoded.count, bytes: Buffer.from(encoded.text, 'utf8') };
  }
  const count = Number(announced);
  if (!Number.isSafeInteger(count) || count <= 0 || !isFramed(Buffer.from(body.buffer, body.byteOffset, body.byteLength), format, count)) {
    throw new AppError('internal', 'chunk protocol violation: rows are not framed as their header says');
  }
  return { count, bytes: body };
}

const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const NEWLINE = 0x0a;

/** Whether a body looks like `count` records of the format: `{...}` (json, joined by commas) or `{...}\n` lines. */
function isFramed(body: Buffer, format: RowFormat, count: number): boolean {
  const last = body.length - 1;
  if (body.length < 2 || body[0] !== OPEN_BRACE) return false;
  if (format === 'json') return body[last] === CLOSE_BRACE;
  if (body[last] !== NEWLINE || body[last - 1] !== CLOSE_BRACE) return false;
  // JSON text escapes newlines inside strings: every raw newline ends a record.
  let lines = 0;
  for (let at = body.indexOf(NEWLINE); at !== -1; at = body.indexOf(NEWLINE, at + 1)) lines++;
  return lines === count;
}

function parseCells(body: Uint8Array): Cell[][] {
  let rows: unknown;
  try {
    rows = JSON.parse(decoder.decode(body));
  } catch (cause) {
    throw new AppError('internal', 'chunk protocol violation', { cause });
  }
  // The same check as the RowsChunk schema, as a plain loop: zod's generic walk cost twice the JSON parse itself.
  if (!isRows(rows)) throw new AppError('internal', 'chunk protocol violation: rows are not arrays of cells');
  return rows;
}

const decoder = new TextDecoder();

/** Arrays of arrays of string, number, boolean or null: what RowsChunk allows. */
function isRows(value: unknown): value is Cell[][] {
  if (!Array.isArray(value)) return false;
  for (const row of value) {
    if (!Array.isArray(row)) return false;
    for (const cell of row) {
      if (cell !== null && typeof cell !== 'string' && typeof cell !== 'number' && typeof cell !== 'boolean') return false;
    }
  }
  return true;
}
