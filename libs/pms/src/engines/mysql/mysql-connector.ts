import { mysqlProcedure } from '../server/server-procedures.ts';
import mysql from 'mysql2';
import type { Connection, ConnectionOptions, FieldPacket, QueryError, ResultSetHeader } from 'mysql2';
import { AppError } from '@halo/contracts';
import type { Cell, ColumnInfo } from '@halo/contracts';
import { toCell } from '../../connector/cells.ts';
import type { Connector } from '../../connector/connector.ts';
import { mysqlError } from './mysql-errors.ts';
import { mysqlTypeName } from './mysql-types.ts';
import { RoundTrips } from '../server/round-trips.ts';
import { resolvePassword, tlsOptions, type ServerConnectionConfig } from '../server/server-config.ts';
import type { ResourceLimits } from '../../connector/resource-limits.ts';
import { ServerConnector } from '../server/server-connector.ts';
import type { ServerSession, StatementPlan } from '../server/server-connector.ts';
import type { ServerStatement } from '../server/server-cursor.ts';
import { bindServerStatement } from '../server/server-parameters.ts';
import { stopWithin } from '../../connector/stop-within.ts';

/** A MySQL or MariaDB database; every statement runs in a READ ONLY transaction unless it is a nonQuery with allowWrites. */
export type MysqlConfig = { engine: 'mysql' } & ServerConnectionConfig & ResourceLimits;

const ABORT_MS = 5_000;
const CONNECT_MS = 10_000;
// Rows held between pulls: past HIGH the socket is paused (the server then blocks on its send), below LOW resumed.
const BUFFER_HIGH = 2_000;
const BUFFER_LOW = 500;
// MYSQL_TYPE_TIMESTAMP and MYSQL_TYPE_DATETIME: with dateStrings they arrive as "YYYY-MM-DD HH:MM:SS[.ffffff]".
const DATE_TIME_TYPES = new Set([7, 12]);

/** Opens a connector on one MySQL/MariaDB connection (read-only unless allowWrites). */
export async function openMysqlConnector(config: MysqlConfig): Promise<Connector> {
  const port = config.port ?? 3306;
  const allowWrites = config.allowWrites === true;
  const ssl = tlsOptions(config.ssl);
  const options: ConnectionOptions = {
    host: config.host,
    port,
    database: config.database,
    user: config.user,
    charset: 'utf8mb4',
    connectTimeout: CONNECT_MS,
    enableKeepAlive: true,
    multipleStatements: false,
    // Cells: BIGINT a number when safe else a string, DECIMAL a string, dates and JSON as the server's text.
    supportBigNumbers: true,
    bigNumberStrings: false,
    decimalNumbers: false,
    dateStrings: true,
    jsonStrings: true,
    ...(ssl ? { ssl } : {}),
  };
  return ServerConnector.open({
    engine: 'mysql',
    identity: `mysql://${config.host}:${port}/${config.database}`,
    allowWrites,
    maxRowBytes: config.maxRowBytes,
    bind: (text, parameters) => bindServerStatement(text, parameters, 'mysql'),
    procedure: (name, parameters) => mysqlProcedure(name, parameters),
    connect: () => MysqlSession.connect({ ...options, password: resolvePassword(config) ?? '' }, allowWrites, config.maxMemoryBytes),
  });
}

/** Runs one text query on a connection (no values: they are already literals in the text). */
function run(connection: Connection, sql: string): Promise<unknown> {
  return new Promise((resolve, reject) => {
    connection.query(sql, (error, result) => (error ? reject(error) : resolve(result)));
  });
}

/**
 * MariaDB caps what one session may allocate (sorts, temporary tables, result buffers) with max_session_mem_used,
 * which any login may lower for itself; a statement past it fails with error 1290 (resource_limit_exceeded).
 * MySQL has no such session variable (1193): its sessions keep the server's own limits.
 */
async function limitSessionMemory(connection: Connection, bytes: number): Promise<void> {
  try {
    await run(connection, `SET SESSION max_session_mem_used = ${Math.max(8192, Math.floor(bytes))}`);
  } catch (error) {
    if ((error as { errno?: unknown }).errno !== 1193) throw error;
  }
}

/** One mysql2 connection: a read-only session unless writes are allowed, and its thread id for KILL QUERY. */
class MysqlSession implements ServerSession {
  readonly connection: Connection;
  readonly #options: ConnectionOptions;
  #alive = true;

  private constructor(connection: Connection, options: ConnectionOptions) {
    this.connection = connection;
    this.#options = options;
    connection.on('error', () => { this.#alive = false; });
    connection.on('end', () => { this.#alive = false; });
  }

  static async connect(options: ConnectionOptions, allowWrites: boolean, maxMemoryBytes: number | undefined): Promise<MysqlSession> {
    const connection = mysql.createConnection(options);
    connection.on('error', () => undefined); // a failed connect rejects below
    try {
      await new Promise<void>((resolve, reject) => connection.connect((error) => (error ? reject(error) : resolve())));
      // A second layer under the READ ONLY transaction of each statement: in a read-only session even DDL, which
      // commits implicitly and would otherwise run outside that transaction, is refused.
      if (!allowWrites) await run(connection, 'SET SESSION TRANSACTION READ ONLY');
      if (maxMemoryBytes !== undefined) await limitSessionMemory(connection, maxMemoryBytes);
      return new MysqlSession(connection, options);
    } catch (error) {
      connection.destroy();
      const mapped = mysqlError(error);
      throw new AppError('site_offline', `cannot open MySQL database ${options.host}:${options.port}/${options.database}: ${mapped.message}`, { cause: error });
    }
  }

  get alive(): boolean {
    return this.#alive;
  }

  start(plan: StatementPlan): ServerStatement {
    return new MysqlStatement(this, plan);
  }

  /** Stops whatever this connection's thread runs, from a second connection. */
  async killQuery(): Promise<void> {
    const side = mysql.createConnection({ ...this.#options, connectTimeout: ABORT_MS });
    side.on('error', () => undefined);
    try {
      await new Promise<void>((resolve, reject) => side.connect((error) => (error ? reject(error) : resolve())));
      await run(side, `KILL QUERY ${Number(this.connection.threadId)}`);
    } finally {
      side.destroy();
    }
  }

  discard(): void {
    this.#alive = false;
    this.connection.destroy();
  }

  async close(): Promise<void> {
    if (!this.#alive) {
      this.connection.destroy();
      return;
    }
    this.#alive = false;
    let timer: NodeJS.Timeout | undefined;
    const ended = new Promise<void>((resolve) => this.connection.end(() => resolve()));
    const late = new Promise<void>((resolve) => { timer = setTimeout(resolve, ABORT_MS); });
    await Promise.race([ended, late]);
    clearTimeout(timer);
    this.connection.destroy();
  }
}

/**
 * One statement in its own transaction: `START TRANSACTION READ ONLY` (reader, scalar; session tx_read_only on)
 * or `READ WRITE` (nonQuery), with max_statement_time set to the time left. Rows stream from the socket, which
 * is paused while enough of them wait to be pulled.
 */
class MysqlStatement implements ServerStatement {
  readonly ready: Promise<ColumnInfo[]>;
  affected: number | undefined;
  outputRow: Cell[] | undefined;
  readonly #session: MysqlSession;
  readonly #plan: StatementPlan;
  #rows: Cell[][] = [];
  #dateTimeColumns: number[] = [];
  /** Set while the streamed statement runs on the server (until its end or error event). */
  #running: Promise<void> | undefined;
  #finished = false;
  #error: AppError | undefined;
  #wake: (() => void) | undefined;
  #discardRows = false;
  readonly #trips: RoundTrips;

  constructor(session: MysqlSession, plan: StatementPlan) {
    this.#session = session;
    this.#trips = new RoundTrips(session, 'MySQL', mysqlError);
    this.#plan = plan;
    this.ready = this.#begin();
    this.ready.catch(() => undefined);
  }

  async read(hint: number): Promise<Cell[][] | undefined> {
    for (;;) {
      if (this.#rows.length > 0) {
        const rows = this.#rows.length <= hint ? this.#rows : this.#rows.slice(0, hint);
        this.#rows = this.#rows.length <= hint ? [] : this.#rows.slice(hint);
        if (this.#rows.length < BUFFER_LOW) this.#session.connection.resume();
        return rows;
      }
      if (this.#error) throw this.#error;
      if (this.#finished || !this.#running) return undefined;
      this.#session.connection.resume();
      await new Promise<void>((resolve) => { this.#wake = resolve; });
    }
  }

  async finish(): Promise<void> {
    // A scalar stops after one row: the rest of the result is stopped on the server.
    if (this.#running && !this.#finished) await this.#stopRunning();
    if (!this.#plan.write) await this.#readOutputs();
    await this.#trips.run(() => run(this.#session.connection, this.#plan.write ? 'COMMIT' : 'ROLLBACK'));
  }

  abort(): Promise<void> {
    return this.#trips.stop(() => this.#abort());
  }

  async #begin(): Promise<ColumnInfo[]> {
    const { connection } = this.#session;
    const { write, timeoutMs, text } = this.#plan;
    const seconds = (timeoutMs / 1000).toFixed(3);
    await this.#trips.run(() => run(connection, `SET SESSION max_statement_time = ${seconds}, SESSION tx_read_only = ${write ? 0 : 1}`));
    await this.#trips.run(() => run(connection, `START TRANSACTION ${write ? 'READ WRITE' : 'READ ONLY'}`));
    for (const statement of this.#plan.procedure?.prologue ?? []) await this.#trips.run(() => run(connection, statement));
    if (write) {
      const result = await this.#trips.run(() => run(connection, text));
      // A CALL answers [result sets..., header]; a plain statement the header alone.
      const header = (Array.isArray(result) ? result.at(-1) : result) as ResultSetHeader | undefined;
      this.affected = Number(header?.affectedRows ?? 0);
      this.#finished = true;
      await this.#readOutputs();
      return [];
    }
    return this.#trips.run(() => this.#stream(text));
  }

  /** A procedure call's OUT/INOUT session variables, read back in the call's transaction. */
  async #readOutputs(): Promise<void> {
    const epilogue = this.#plan.procedure?.epilogue;
    if (epilogue === undefined) return;
    const rows = await this.#trips.run(() => run(this.#session.connection, epilogue));
    const first = Array.isArray(rows) ? (rows[0] as Record<string, unknown> | undefined) : undefined;
    this.outputRow = first ? Object.values(first).map(toCell) : undefined;
  }

  /** Starts the streamed query; resolves with its columns (none for a statement that returns no rows). */
  #stream(text: string): Promise<ColumnInfo[]> {
    const { connection } = this.#session;
    const described = Promise.withResolvers<ColumnInfo[]>();
    const done = Promise.withResolvers<void>();
    this.#running = done.promise;
    const wake = () => {
      const resolve = this.#wake;
      this.#wake = undefined;
      resolve?.();
    };
    const query = connection.query({ sql: text, rowsAsArray: true });
    query.on('fields', (fields: FieldPacket[] | undefined) => {
      // A CALL's closing status packet comes as a further "result set" without fields; only the first one counts.
      if (!fields) return;
      this.#dateTimeColumns = fields.flatMap((field, index) => (DATE_TIME_TYPES.has(field.columnType ?? field.type ?? -1) ? [index] : []));
      described.resolve(fields.map((field) => ({ name: field.name, type: mysqlTypeName(field) })));
    });
    query.on('result', (row: unknown) => {
      if (!Array.isArray(row)) {
        described.resolve([]); // a statement without a result set
        return;
      }
      if (this.#discardRows) return;
      const cells = row.map(toCell);
      for (const index of this.#dateTimeColumns) {
        const value = cells[index];
        if (typeof value === 'string') cells[index] = value.replace(' ', 'T');
      }
      this.#rows.push(cells);
      if (this.#rows.length >= BUFFER_HIGH) connection.pause();
      wake();
    });
    query.on('error', (error: QueryError) => {
      this.#error = mysqlError(error);
      described.reject(this.#error);
      this.#finished = true;
      done.resolve();
      wake();
    });
    query.on('end', () => {
      described.resolve([]);
      this.#finished = true;
      done.resolve();
      wake();
    });
    return described.promise;
  }

  /** KILL QUERY from a second connection, then drain what was already sent until the server reports the end. */
  async #stopRunning(): Promise<void> {
    this.#discardRows = true;
    this.#rows = [];
    if (!this.#finished) await this.#session.killQuery();
    this.#session.connection.resume();
    await this.#running;
    // The kill's own error (or a late row) is not this statement's outcome.
    this.#error = undefined;
  }

  async #abort(): Promise<void> {
    const session = this.#session;
    const stop = async () => {
      if (!session.alive) return;
      const busy = this.#trips.busy;
      if (this.#running && !this.#finished) await this.#stopRunning();
      else if (busy) {
        // A kill that lands after the statement finished finds the thread idle; MariaDB then clears it.
        await session.killQuery();
        await busy;
      }
      if (session.alive) await run(session.connection, 'ROLLBACK');
    };
    try {
      await stopWithin(ABORT_MS, stop, () => session.discard());
    } finally {
      this.#finished = true;
      this.#rows = [];
    }
  }
}
