// A test-only TDS 7.4 responder: wire-protocol coverage for SQL Server clients, not SQL Server semantics.
// It logs a client in without TLS (PRELOGIN, LOGIN7), answers SQL batches and sp_executesql RPCs from a
// fixture table (COLMETADATA / ROW / DONE, or an ERROR), honours socket backpressure while streaming, and
// acknowledges ATTENTION with DONE(ATTN) in a message of its own. It parses no SQL: a statement's text is
// only a key into the fixtures.
import { createServer } from 'node:net';
import type { Server, Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseLogin7, preloginResponse } from './login.ts';
import type { Login7 } from './login.ts';
import { parseRpc, parseSqlBatch } from './requests.ts';
import { colMetadata, done, DONE, envChangeCollation, envChangeText, loginAck, message, returnStatus, returnValue, row } from './tokens.ts';
import type { DoneKind } from './tokens.ts';
import type { DecodedParameter, TdsColumn, TdsValue } from './types.ts';
import { MessageReader, MessageWriter, PACKET } from './wire.ts';
import type { TdsMessage } from './wire.ts';

/** One result set of a fixture. */
export interface TdsResultSet {
  columns: readonly TdsColumn[];
  /** Read lazily, so a generator can stream any number of rows (or never end, for a query left to be cancelled). */
  rows: Iterable<readonly TdsValue[]> | AsyncIterable<readonly TdsValue[]>;
  /** Wait this long before each row and send each row in its own packet: a slow query. */
  rowDelayMs?: number;
}

/** An error as SQL Server reports one. */
export interface TdsError {
  number: number;
  message: string;
  /** Class; 16 (user error) unless given. */
  severity?: number;
  state?: number;
}

/** An output parameter's value as a procedure call answers it; `name` with or without '@'. */
export interface TdsOutput {
  name: string;
  column: TdsColumn;
  value: TdsValue;
}

/**
 * What a statement answers; `delayMs` holds back the first byte of the answer. A procedure call's (RPC) answer
 * may add its RETURN status (default 0, 1 after an error) and output parameter values (RETURNVALUE tokens).
 */
export type TdsReply = (
  | TdsResultSet
  | { error: TdsError }
  | { rowsAffected: number }
  | { resultSets: readonly TdsResultSet[] }
) & { delayMs?: number; returnStatus?: number; outputs?: readonly TdsOutput[] };

/** A request the responder received after login. */
export interface TdsRequest {
  kind: 'batch' | 'rpc';
  /** The batch text, or sp_executesql's @stmt. */
  sql: string;
  /** sp_executesql's @params declaration ('' for a batch). */
  declaration: string;
  /** RPC parameters after @stmt and @params (a procedure call's: all), by name without '@'. */
  parameters: Record<string, DecodedParameter>;
  /** A procedure call (an RPC of a procedure by name, not sp_executesql): the name; `sql` holds it too. */
  procedure?: string;
  /** A procedure call's OUTPUT parameters, names without '@'. */
  outputNames?: string[];
  user: string;
  database: string;
  appName: string;
}

/** Fixtures: whitespace-normalised SQL text -> reply, or a function (undefined = no fixture). */
export type TdsFixtures = ReadonlyMap<string, TdsReply> | ((request: TdsRequest) => TdsReply | undefined);

export interface TdsResponderOptions {
  fixtures: TdsFixtures;
  /** SQL logins that may connect: user -> password. Default { halo_reader: 'Reader-Passw0rd!' }. */
  logins?: Readonly<Record<string, string>>;
  /** Database reported after login when the client names none. Default 'practice'. */
  database?: string;
}

/** Counters a test can assert on. */
export interface TdsResponderStats {
  connections: number;
  logins: number;
  failedLogins: number;
  attentions: number;
  attentionAcks: number;
}

/** A running responder on a random loopback port. */
export interface TdsResponder {
  readonly host: string;
  readonly port: number;
  /** Every request after login (including clients' own SET batches), in arrival order. */
  readonly requests: TdsRequest[];
  readonly stats: TdsResponderStats;
  close(): Promise<void>;
}

/** Login that startTdsResponder accepts unless told otherwise. */
export const TDS_DEFAULT_LOGIN = { user: 'halo_reader', password: 'Reader-Passw0rd!' } as const;

const SERVER_NAME = 'tds-responder';

/** Starts a responder on 127.0.0.1 and a random port. */
export async function startTdsResponder(options: TdsResponderOptions): Promise<TdsResponder> {
  const logins = options.logins ?? { [TDS_DEFAULT_LOGIN.user]: TDS_DEFAULT_LOGIN.password };
  const requests: TdsRequest[] = [];
  const stats: TdsResponderStats = { connections: 0, logins: 0, failedLogins: 0, attentions: 0, attentionAcks: 0 };
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    stats.connections++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    new Session(socket, { fixtures: options.fixtures, logins, database: options.database ?? 'practice', requests, stats });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  if (!address || typeof address === 'string') throw new Error('the TDS responder has no TCP address');
  return {
    host: '127.0.0.1',
    port: address.port,
    requests,
    stats,
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const socket of sockets) socket.destroy();
      await closed;
    },
  };
}

interface SessionContext {
  fixtures: TdsFixtures;
  logins: Readonly<Record<string, string>>;
  database: string;
  requests: TdsRequest[];
  stats: TdsResponderStats;
}

/** The request being answered; ATTENTION marks it. */
interface Running {
  attention: boolean;
  finished: boolean;
}

class Session {
  readonly #socket: Socket;
  readonly #context: SessionContext;
  #login: Login7 | undefined;
  #packetSize = 4096;
  #queue: Promise<void> = Promise.resolve();
  #current: Running | undefined;

  constructor(socket: Socket, context: SessionContext) {
    this.#socket = socket;
    this.#context = context;
    const reader = new MessageReader((m) => this.#onMessage(m));
    socket.on('data', (data: Buffer) => {
      try {
        reader.push(data);
      } catch {
        socket.destroy();
      }
    });
  }

  #onMessage(m: TdsMessage): void {
    if (m.type === PACKET.ATTENTION) {
      this.#context.stats.attentions++;
      const current = this.#current;
      if (current && !current.finished) current.attention = true;
      else this.#enqueue(() => this.#sendAttentionAck());
      return;
    }
    const running: Running = { attention: false, finished: false };
    if (m.type === PACKET.SQL_BATCH || m.type === PACKET.RPC) this.#current = running;
    this.#enqueue(async () => {
      try {
        await this.#handle(m, running);
      } finally {
        running.finished = true;
      }
      if (running.attention) await this.#sendAttentionAck();
    });
  }

  #enqueue(work: () => Promise<void>): void {
    this.#queue = this.#queue.then(work).catch(() => {
      this.#socket.destroy();
    });
  }

  async #handle(m: TdsMessage, running: Running): Promise<void> {
    switch (m.type) {
      case PACKET.PRELOGIN:
        return this.#send([preloginResponse()]);
      case PACKET.LOGIN7:
        return this.#handleLogin(m.payload);
      case PACKET.SQL_BATCH:
      case PACKET.RPC: {
        if (!this.#login) {
          this.#socket.destroy();
          return;
        }
        const kind = m.type === PACKET.RPC ? 'rpc' : 'batch';
        const last: DoneKind = kind === 'rpc' ? 'doneProc' : 'done';
        if (m.ignored) return this.#send([done(last, DONE.FINAL)]);
        let request: TdsRequest;
        try {
          request = this.#request(kind, m.payload);
        } catch (error) {
          const text = error instanceof Error ? error.message : 'bad request';
          return this.#send([message(8_009, text, 16, 1, SERVER_NAME), done(last, DONE.ERROR)]);
        }
        this.#context.requests.push(request);
        return this.#answer(request, this.#reply(request), running);
      }
      default:
        this.#socket.destroy();
    }
  }

  async #handleLogin(payload: Buffer): Promise<void> {
    const login = parseLogin7(payload);
    const { stats, logins } = this.#context;
    if (login.integratedSecurity) {
      stats.failedLogins++;
      const text = 'Login failed. Integrated (SSPI/NTLM) authentication is not offered by the TDS test responder.';
      return this.#send([message(18_452, text, 14, 1, SERVER_NAME), done('done', DONE.ERROR)]);
    }
    if (!Object.hasOwn(logins, login.user) || logins[login.user] !== login.password) {
      stats.failedLogins++;
      return this.#send([message(18_456, `Login failed for user '${login.user}'.`, 14, 1, SERVER_NAME), done('done', DONE.ERROR)]);
    }
    stats.logins++;
    const database = login.database || this.#context.database;
    this.#login = { ...login, database };
    const packetSize = String(login.packetSize);
    await this.#send([
      envChangeText(1, database, 'master'),
      envChangeCollation(),
      loginAck('Microsoft SQL Server'),
      envChangeText(4, packetSize, packetSize),
      done('done', DONE.FINAL),
    ]);
    this.#packetSize = login.packetSize;
  }

  #request(kind: 'batch' | 'rpc', payload: Buffer): TdsRequest {
    const login = this.#login as Login7;
    const base = { kind, user: login.user, database: login.database, appName: login.appName };
    if (kind === 'batch') return { ...base, sql: parseSqlBatch(payload), declaration: '', parameters: {} };
    const call = parseRpc(payload);
    if (call.procedure.startsWith('proc#')) throw new Error(`the TDS responder only runs sp_executesql and procedures by name, not ${call.procedure}`);
    if (call.procedure !== 'sp_executesql') {
      const parameters: Record<string, DecodedParameter> = {};
      for (const { name, output: _output, ...value } of call.parameters) parameters[name.replace(/^@/, '')] = value;
      const outputNames = call.parameters.filter((p) => p.output).map((p) => p.name.replace(/^@/, ''));
      return { ...base, sql: call.procedure, declaration: '', parameters, procedure: call.procedure, outputNames };
    }
    const [statement, declaration, ...rest] = call.parameters;
    const parameters: Record<string, DecodedParameter> = {};
    for (const { name, output: _output, ...value } of rest) parameters[name.replace(/^@/, '')] = value;
    return { ...base, sql: String(statement?.value ?? ''), declaration: String(declaration?.value ?? ''), parameters };
  }

  #reply(request: TdsRequest): TdsReply {
    const { fixtures } = this.#context;
    const key = normaliseSql(request.sql);
    const reply = typeof fixtures === 'function' ? fixtures(request) : fixtures.get(key);
    if (reply) return reply;
    // Clients set session options after login (tedious sends a batch of SETs); those need no fixture.
    if (/^set\s/i.test(key)) return { rowsAffected: -1 };
    return { error: { number: 50_000, message: 'The TDS test responder has no fixture for this statement.' } };
  }

  async #answer(request: TdsRequest, reply: TdsReply, running: Running): Promise<void> {
    const rpc = request.kind === 'rpc';
    const statementDone: DoneKind = rpc ? 'doneInProc' : 'done';
    const out = new MessageWriter(this.#socket, this.#packetSize);
    const finish = async (status: number) => {
      if (rpc) {
        const failed = (status & DONE.ERROR) !== 0;
        // As SQL Server: RETURNSTATUS, then each output parameter's RETURNVALUE (not after an error), then DONEPROC.
        const outputs = failed ? [] : (reply.outputs ?? []).map((o, i) => returnValue(i + 1, o.name.startsWith('@') ? o.name : `@${o.name}`, o.column, o.value));
        await out.write(Buffer.concat([returnStatus(reply.returnStatus ?? (failed ? 1 : 0)), ...outputs, done('doneProc', status & DONE.ERROR)]));
      }
      else if (reply.returnStatus !== undefined || reply.outputs) {
        // A batch that EXECs a procedure: SQL Server ends the procedure with RETURNSTATUS (and the values of
        // its OUTPUT parameters) and DONEPROC, then the batch with DONE.
        const outputs = (reply.outputs ?? []).map((o, i) => returnValue(i + 1, o.name.startsWith('@') ? o.name : `@${o.name}`, o.column, o.value));
        await out.write(Buffer.concat([returnStatus(reply.returnStatus ?? 0), ...outputs, done('doneProc', DONE.FINAL), done('done', DONE.FINAL)]));
      } else if (status !== -1) await out.write(done('done', status));
      await out.end();
    };
    // A batch's procedure status follows its statements, so their last DONE says more is to come.
    const trailing = !rpc && (reply.returnStatus !== undefined || reply.outputs) ? DONE.MORE : 0;
    if (reply.delayMs) await this.#wait(reply.delayMs, running);
    if (running.attention) {
      await out.write(done(rpc ? 'doneProc' : 'done', DONE.FINAL));
      return out.end();
    }
    if ('error' in reply) {
      const { number, message: text, severity = 16, state = 1 } = reply.error;
      await out.write(message(number, text, severity, state, SERVER_NAME));
      await out.write(done(statementDone, DONE.ERROR));
      return finish(rpc ? DONE.ERROR : -1);
    }
    if ('rowsAffected' in reply) {
      const counted = reply.rowsAffected >= 0;
      await out.write(done(statementDone, (counted ? DONE.COUNT : DONE.FINAL) | trailing, Math.max(0, reply.rowsAffected)));
      return finish(rpc ? DONE.FINAL : -1);
    }
    const sets = 'resultSets' in reply ? reply.resultSets : [reply];
    for (const [index, set] of sets.entries()) {
      const count = await this.#streamRows(out, set, running);
      if (count === undefined) {
        await out.write(done(statementDone, DONE.FINAL));
        return finish(rpc ? DONE.FINAL : -1);
      }
      const more = index < sets.length - 1 ? DONE.MORE : trailing;
      await out.write(done(statementDone, DONE.COUNT | more, count));
    }
    return finish(rpc ? DONE.FINAL : -1);
  }

  /** Sends one result set; undefined if ATTENTION stopped it. */
  async #streamRows(out: MessageWriter, set: TdsResultSet, running: Running): Promise<number | undefined> {
    await out.write(colMetadata(set.columns));
    const rows = Symbol.asyncIterator in set.rows
      ? set.rows[Symbol.asyncIterator]()
      : (set.rows as Iterable<readonly TdsValue[]>)[Symbol.iterator]();
    let count = 0;
    try {
      for (;;) {
        if (set.rowDelayMs) {
          await out.flush();
          await this.#wait(set.rowDelayMs, running);
        }
        if (running.attention) return undefined;
        const next = await rows.next();
        if (next.done) return count;
        await out.write(row(set.columns, next.value));
        count++;
      }
    } finally {
      await rows.return?.();
    }
  }

  /** Waits up to `ms`, returning early once ATTENTION has arrived. */
  async #wait(ms: number, running: Running): Promise<void> {
    const until = Date.now() + ms;
    while (!running.attention && Date.now() < until) await sleep(Math.min(10, until - Date.now()));
  }

  async #sendAttentionAck(): Promise<void> {
    this.#context.stats.attentionAcks++;
    await this.#send([done('done', DONE.ATTN)]);
  }

  async #send(tokens: Buffer[]): Promise<void> {
    const out = new MessageWriter(this.#socket, this.#packetSize);
    for (const token of tokens) await out.write(token);
    await out.end();
  }
}

/** The key a statement is looked up by: trimmed, runs of whitespace as one space. */
export function normaliseSql(sql: string): string {
  return sql.trim().replace(/\s+/g, ' ');
}
