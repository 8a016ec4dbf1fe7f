import { randomUUID, createHash, type Hash } from 'node:crypto';
import { Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { QueryRequest, RowEncoder, subjects, type Cell, type ColumnInfo } from '@halo/contracts';
import { createLogger, type Logger } from '@halo/log';
import { AckRouter, ChunkSender, ReplyRouter, connectNats, decodeJson, headers, readRequestOptions, type Msg, type NatsConnection, type RowBytes, type SentChunkInfo, type Subscription } from '@halo/messaging';
import { cleanupStack, launchHub, launchLeaf, type HasAfter } from '@halo/testkit';

/** Log lines written during a test, parsed; tests look for warnings by message. */
export class LogLines extends Writable {
  readonly lines: Array<Record<string, unknown>> = [];
  override _write(chunk: Buffer, _enc: BufferEncoding, done: () => void): void {
    for (const line of chunk.toString().split('\n')) if (line) this.lines.push(JSON.parse(line) as Record<string, unknown>);
    done();
  }
  has(msg: string): boolean {
    return this.lines.some((l) => l.msg === msg);
  }
}

export interface Stack {
  linkGuid: string;
  haloGuid: string;
  /** Requester side: on the hub, like the facade. */
  requesterNc: NatsConnection;
  router: ReplyRouter;
  /** Agent side: on the leaf, with its whole-token inbox prefix. */
  agentNc: NatsConnection;
  acks: AckRouter;
  logs: LogLines;
  log: Logger;
  defer: (fn: () => unknown) => void;
}

/** A hub and a leaf on random ports, the requester on the hub and the agent on the leaf, exactly as in production. */
export async function launchStack(t: HasAfter): Promise<Stack> {
  const defer = cleanupStack(t);
  const logs = new LogLines();
  const log = createLogger({ name: 'chunk-test', level: 'debug', destination: logs });
  const quiet = createLogger({ name: 'chunk-test', level: 'silent' });
  const hub = await launchHub();
  defer(() => hub.close());
  const leaf = await launchLeaf(hub.leafUrl);
  defer(() => leaf.close());
  const linkGuid = randomUUID();
  const haloGuid = randomUUID();
  const agentNc = await connectNats({ servers: leaf.clientUrl, name: 'agent', log: quiet, inboxPrefix: subjects.agentInbox(linkGuid) });
  defer(() => agentNc.close());
  const requesterNc = await connectNats({ servers: hub.clientUrl, name: 'facade', log: quiet });
  defer(() => requesterNc.close());
  const acks = new AckRouter({ nc: agentNc, linkGuid, log });
  defer(() => acks.close());
  const router = new ReplyRouter({ nc: requesterNc, requesterId: `req${randomUUID().replaceAll('-', '')}`, log });
  defer(() => router.close());
  return { linkGuid, haloGuid, requesterNc, router, agentNc, acks, logs, log, defer };
}

export interface ServedQuery {
  request: QueryRequest;
  sender: ChunkSender;
  msg: Msg;
}

export interface TestAgent {
  served: ServedQuery[];
  /** Every chunk the agent published, in order. */
  sent: SentChunkInfo[];
  sub: Subscription;
}

const PROBE = 'Test-Probe';

/**
 * A small agent serving the site's query subject with ChunkSender; `serve` produces the result. Waits until the
 * hub sees the subscription (interest crosses the leaf asynchronously).
 */
export async function startTestAgent(
  stack: Stack,
  serve: (q: ServedQuery) => Promise<void>,
  /** `cells`: answer as an agent older than encoded rows does (cell arrays, whatever the request's row format). */
  options: { stallMs?: number; compression?: 'auto' | 'always' | 'never'; cells?: boolean; onChunk?: (info: SentChunkInfo, q: ServedQuery) => void } = {},
): Promise<TestAgent> {
  const agent: TestAgent = { served: [], sent: [], sub: undefined as unknown as Subscription };
  agent.sub = stack.agentNc.subscribe(subjects.query(stack.linkGuid, stack.haloGuid), {
    callback: (err, msg) => {
      if (err) return;
      if (msg.headers?.get(PROBE)) {
        msg.respond();
        return;
      }
      const request = decodeJson(QueryRequest, msg.data);
      const { chunkBytes, window, keepAliveMs, rowFormat } = readRequestOptions(msg);
      const acks = stack.acks.open(request.queryId);
      const q = { request, msg } as ServedQuery;
      q.sender = new ChunkSender({
        nc: stack.agentNc,
        replySubject: msg.reply ?? '',
        acks,
        window,
        chunkBytes,
        keepAliveMs,
        ...(options.cells ? {} : { rowFormat }),
        stallMs: options.stallMs ?? 5_000,
        ...(options.compression ? { compression: options.compression } : {}),
        deadline: request.deadline,
        log: stack.log,
        onChunk: (info) => {
          agent.sent.push(info);
          options.onChunk?.(info, q);
        },
      });
      agent.served.push(q);
      serve(q).catch((e: unknown) => q.sender.fail(e));
    },
  });
  await stack.agentNc.flush();
  const h = headers();
  h.set(PROBE, '1');
  for (let i = 0; i < 100; i++) {
    const ok = await stack.requesterNc.request(subjects.query(stack.linkGuid, stack.haloGuid), new Uint8Array(), { timeout: 500, headers: h }).then(() => true, () => false);
    if (ok) return agent;
    await sleep(50);
  }
  throw new Error('agent subscription never reached the hub');
}

export function queryRequest(stack: Stack, overrides: Partial<QueryRequest> = {}): QueryRequest {
  return {
    queryId: randomUUID(),
    haloGuid: stack.haloGuid,
    mode: 'immediate',
    command: { text: 'select * from patients', type: 'text', executionMode: 'reader', parameters: [] },
    deadline: Date.now() + 30_000,
    maxTimeInQueueMs: 5_000,
    ...overrides,
  };
}

const FILLER = 'The quick brown fox jumps over the lazy dog; recall due, invoice paid. ';

/** A deterministic, compressible row. */
export function makeRow(i: number, fillerRepeats = 3): Cell[] {
  return [i, `patient-${i}`, FILLER.repeat(fillerRepeats), i % 3 === 0, i % 7 === 0 ? null : i * 1.5];
}

/** Sends rows [0, count) in batches, as a database cursor would. */
export async function sendRows(sender: ChunkSender, count: number, options: { batch?: number; fillerRepeats?: number; hash?: Hash } = {}): Promise<void> {
  const batch = options.batch ?? 500;
  for (let i = 0; i < count; i += batch) {
    const rows: Cell[][] = [];
    for (let j = i; j < Math.min(count, i + batch); j++) {
      const row = makeRow(j, options.fillerRepeats);
      options.hash?.update(JSON.stringify(row));
      rows.push(row);
    }
    await sendBatch(sender, COLUMNS, rows);
  }
}

export function sha256(): Hash {
  return createHash('sha256');
}

export const COLUMNS = [
  { name: 'id', type: 'Int' },
  { name: 'name', type: 'NVarChar' },
  { name: 'notes', type: 'NVarChar' },
  { name: 'active', type: 'Bit' },
  { name: 'balance', type: 'Float' },
];

/** Resolves with the signal's reason once it aborts (or rejects after ms). */
export function aborted(signal: AbortSignal, ms = 10_000): Promise<unknown> {
  if (signal.aborted) return Promise.resolve(signal.reason);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('signal never aborted')), ms);
    signal.addEventListener('abort', () => {
      clearTimeout(timer);
      resolve(signal.reason);
    }, { once: true });
  });
}

/** Sends one batch as the agent does: encoded in the request's row format, or as cells to an older requester. */
export async function sendBatch(sender: ChunkSender, columns: readonly ColumnInfo[], rows: Cell[][]): Promise<void> {
  const format = sender.rowFormat;
  await (format === undefined ? sender.rows(rows) : sender.encoded(new RowEncoder(columns, format).encode(rows)));
}

/** The records of a json-format rows chunk (tests only: the relay never parses them). */
export function records(chunk: RowBytes): Array<Record<string, Cell>> {
  return JSON.parse(`[${Buffer.from(chunk.bytes).toString('utf8')}]`) as Array<Record<string, Cell>>;
}
