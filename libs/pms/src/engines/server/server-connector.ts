import { AppError } from '@halo/contracts';
import type { Cell, ColumnInfo, EncodedRows, RowFormat } from '@halo/contracts';
import { checkQueryInput } from '../../connector/check-input.ts';
import { collectResult } from '../../connector/collect-result.ts';
import type { Connector, EncodedCursor, QueryInput, QueryOutput, ResultCursor } from '../../connector/connector.ts';
import { guardQuery } from '../../connector/query-guard.ts';
import { checkProcedureInput, isProcedureCall } from '../../connector/procedure-call.ts';
import { ServerCursor } from './server-cursor.ts';
import type { ServerStatement } from './server-cursor.ts';
import type { BoundStatement } from './server-parameters.ts';
import type { ProcedurePlan } from './server-procedures.ts';
import { assertReadOnly } from '../../guard/read-only-guard.ts';
import { StatementQueue } from '../../connector/statement-queue.ts';

const BATCH_BYTES = 64 * 1024;
const BATCH_ROWS = 10_000;

/** What a statement needs from its session: text and values, read-only or not, and the server-side timeout. */
export interface StatementPlan extends BoundStatement {
  /** nonQuery: run in a read-write transaction and commit; otherwise a READ ONLY transaction rolled back. */
  write: boolean;
  /** Milliseconds left before the deadline, for the engine's own statement timeout (at least 1). */
  timeoutMs: number;
  /** A stored procedure call: what runs around it and where its output values come from. */
  procedure?: Pick<ProcedurePlan, 'prologue' | 'epilogue' | 'outputsFromResult'>;
}

/** One physical connection to a server engine. */
export interface ServerSession {
  /** False once the connection failed or was discarded; the connector then opens a new one. */
  readonly alive: boolean;
  /** Starts one statement; its `ready` settles once it is described or failed. */
  start(plan: StatementPlan): ServerStatement;
  close(): Promise<void>;
}

/** How a server connector reaches its engine. */
export interface ServerEngine {
  readonly engine: 'postgres' | 'mysql';
  /** Where the database lives, without credentials. */
  readonly identity: string;
  readonly allowWrites: boolean;
  /** Default maxRowBytes of a statement. */
  readonly maxRowBytes: number | undefined;
  bind(text: string, parameters: QueryInput['parameters']): BoundStatement;
  /** A stored procedure call of `name` with Halo's directed parameters (server-procedures.ts). */
  procedure(name: string, parameters: QueryInput['parameters'], nonQuery: boolean): ProcedurePlan;
  connect(): Promise<ServerSession>;
}

/**
 * A connector over one connection to PostgreSQL or MySQL. Statements run one at a time in arrival order; a
 * streamed one holds the connector until its cursor is finished, left or cancelled. A connection that broke
 * (or could not be brought back after a cancel) is replaced by a fresh one for the next statement.
 */
export class ServerConnector implements Connector {
  readonly engine: 'postgres' | 'mysql';
  readonly #server: ServerEngine;
  #session: ServerSession | undefined;
  // Holds either kind of cursor (cells or encoded); it only ever cancels one.
  readonly #queue = new StatementQueue<{ cancel(reason?: unknown): Promise<void> }>();
  #connecting: Promise<ServerSession> | undefined;
  #closed = false;

  constructor(server: ServerEngine, session: ServerSession) {
    this.engine = server.engine;
    this.#server = server;
    this.#session = session;
  }

  /** Connects once so that a wrong host, database or password fails at open, not at the first query. */
  static async open(server: ServerEngine): Promise<ServerConnector> {
    return new ServerConnector(server, await server.connect());
  }

  identity(): string {
    return this.#server.identity;
  }

  async query(input: QueryInput): Promise<QueryOutput> {
    return collectResult(await this.stream(input));
  }

  /** The cursor serialises each row once, as row-object text, instead of as cells (and again for their size). */
  streamEncoded(input: QueryInput, format: RowFormat): Promise<EncodedCursor> {
    return this.#start<EncodedRows>(input, format);
  }

  stream(input: QueryInput): Promise<ResultCursor> {
    return this.#start<Cell[][]>(input, undefined);
  }

  async #start<B extends Cell[][] | EncodedRows>(input: QueryInput, encoding: RowFormat | undefined): Promise<ServerCursor<B>> {
    if (this.#closed) throw new AppError('internal', 'the connector is closed');
    checkQueryInput(input);
    checkProcedureInput(input, false);
    const write = input.executionMode === 'nonQuery';
    if (write && !this.#server.allowWrites) throw new AppError('writes_disabled', 'writes are not enabled for this database');
    const procedure = isProcedureCall(input) ? this.#server.procedure(input.text.trim(), input.parameters, write) : undefined;
    // Backstop behind the READ ONLY session and the least-privilege login. A procedure call is not parsed: it
    // runs in the READ ONLY transaction like any read, where the engine itself refuses a write it attempts.
    if (!write && !this.#server.allowWrites && !procedure) assertReadOnly(input.text, this.engine === 'postgres' ? 'postgresql' : 'mysql');
    const bound = procedure ?? this.#server.bind(input.text, input.parameters);
    const guard = guardQuery(input.deadline, input.signal);
    return this.#queue.run(guard, () => this.#closed, async (turn) => {
      const session = await Promise.race([this.#ensureSession(), guard.stopped]);
      const started = performance.now();
      const statement = session.start({ text: bound.text, values: bound.values, write, timeoutMs: Math.max(1, Math.ceil(input.deadline - Date.now())), ...(procedure ? { procedure } : {}) });
      let columns: ColumnInfo[];
      try {
        columns = await Promise.race([statement.ready, guard.stopped]);
      } catch (error) {
        await statement.abort();
        throw error;
      }
      const cursor = new ServerCursor<B>(columns, statement, {
        scalar: input.executionMode === 'scalar',
        maxRows: input.maxRows,
        maxBytes: input.maxBytes,
        maxRowBytes: input.maxRowBytes ?? this.#server.maxRowBytes,
        batchRows: input.batchRows ?? BATCH_ROWS,
        batchBytes: input.batchBytes ?? BATCH_BYTES,
        ...(procedure ? { outputs: procedure.outputs } : {}),
        ...(encoding ? { encoding } : {}),
      }, guard, started, turn.release);
      turn.adopt(cursor);
      return cursor;
    }) as Promise<ServerCursor<B>>;
  }

  /** Stops at once: a running statement is cancelled and queued ones are refused. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#queue.cancelAndDrain(new AppError('internal', 'the connector was closed'));
    await this.#session?.close();
    this.#session = undefined;
  }

  /** The live session, or a new one; a statement that gave up while connecting leaves the connect to the next. */
  #ensureSession(): Promise<ServerSession> {
    if (this.#session?.alive) return Promise.resolve(this.#session);
    this.#connecting ??= (async () => {
      const stale = this.#session;
      this.#session = undefined;
      await stale?.close().catch(() => undefined);
      try {
        const session = await this.#server.connect();
        if (this.#closed) {
          await session.close();
          throw new AppError('internal', 'the connector is closed');
        }
        this.#session = session;
        return session;
      } finally {
        this.#connecting = undefined;
      }
    })();
    return this.#connecting;
  }
}
