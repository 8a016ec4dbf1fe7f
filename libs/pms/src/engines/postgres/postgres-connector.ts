import { postgresProcedure } from '../server/server-procedures.ts';
import pg from 'pg';
import type { ClientConfig, FieldDef } from 'pg';
import Cursor from 'pg-cursor';
import { AppError } from '@halo/contracts';
import type { Cell, ColumnInfo } from '@halo/contracts';
import { toCell } from '../../connector/cells.ts';
import type { Connector } from '../../connector/connector.ts';
import { postgresError } from './postgres-errors.ts';
import { POSTGRES_TYPES, postgresTypeName } from './postgres-types.ts';
import { RoundTrips } from '../server/round-trips.ts';
import { resolvePassword, tlsOptions, type ServerConnectionConfig } from '../server/server-config.ts';
import type { ResourceLimits } from '../../connector/resource-limits.ts';
import { ServerConnector } from '../server/server-connector.ts';
import type { ServerSession, StatementPlan } from '../server/server-connector.ts';
import type { ServerStatement } from '../server/server-cursor.ts';
import { bindServerStatement } from '../server/server-parameters.ts';
import { stopWithin } from '../../connector/stop-within.ts';

/** A PostgreSQL database; every statement runs in a READ ONLY transaction unless it is a nonQuery with allowWrites. */
export type PostgresConfig = { engine: 'postgres' } & ServerConnectionConfig & ResourceLimits;

// How long stopping a statement (cancel, wait for the server to give up, roll back) may take before the
// connection is thrown away instead.
const ABORT_MS = 5_000;
const CONNECT_MS = 10_000;
// The server closes a session idle in our transaction this long after the deadline: a safety net should the
// agent itself hang; normally the agent's own timer has cancelled long before.
const IDLE_MARGIN_MS = 5_000;

/** Opens a connector on one PostgreSQL connection (read-only unless allowWrites). */
export async function openPostgresConnector(config: PostgresConfig): Promise<Connector> {
  const port = config.port ?? 5432;
  const allowWrites = config.allowWrites === true;
  const ssl = tlsOptions(config.ssl);
  const client: ClientConfig = {
    host: config.host,
    port,
    database: config.database,
    user: config.user,
    application_name: 'halo-link',
    connectionTimeoutMillis: CONNECT_MS,
    keepAlive: true,
    types: POSTGRES_TYPES,
    ...(ssl ? { ssl } : {}),
  };
  return ServerConnector.open({
    engine: 'postgres',
    identity: `postgres://${config.host}:${port}/${config.database}`,
    allowWrites,
    maxRowBytes: config.maxRowBytes,
    bind: (text, parameters) => bindServerStatement(text, parameters, 'postgres'),
    procedure: (name, parameters, nonQuery) => postgresProcedure(name, parameters, nonQuery),
    // The password is read at each connect, so a rotated file or variable takes effect without a restart.
    connect: () => PostgresSession.connect({ ...client, password: resolvePassword(config) }, allowWrites),
  });
}

/** One pg connection: a read-only session unless writes are allowed, and its backend pid for cancels. */
class PostgresSession implements ServerSession {
  readonly client: pg.Client;
  readonly #config: ClientConfig;
  readonly #pid: number;
  #alive = true;

  private constructor(client: pg.Client, config: ClientConfig, pid: number) {
    this.client = client;
    this.#config = config;
    this.#pid = pid;
    const dead = () => { this.#alive = false; };
    client.on('error', dead);
    client.on('end', dead);
  }

  static async connect(config: ClientConfig, allowWrites: boolean): Promise<PostgresSession> {
    const client = new pg.Client(config);
    client.on('error', () => undefined); // until the session listens; a failed connect rejects below
    try {
      await client.connect();
      // DateStyle ISO is what the type parsers read. A read-only session is a second layer under the
      // READ ONLY transaction each statement runs in.
      const setup = [`SET DateStyle = 'ISO, MDY'`];
      if (!allowWrites) setup.push('SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY');
      await client.query(setup.join('; '));
      const result = await client.query<[number]>({ text: 'SELECT pg_backend_pid()', rowMode: 'array' });
      const pid = result.rows[0]?.[0];
      if (typeof pid !== 'number') throw new AppError('internal', 'PostgreSQL did not report its backend pid');
      return new PostgresSession(client, config, pid);
    } catch (error) {
      await client.end().catch(() => undefined);
      throw connectError(error, config);
    }
  }

  get alive(): boolean {
    return this.#alive;
  }

  start(plan: StatementPlan): ServerStatement {
    return new PostgresStatement(this, plan);
  }

  /** Cancels whatever this connection's backend runs, from a second connection (pg has no public cancel). */
  async cancelBackend(): Promise<void> {
    const side = new pg.Client({ ...this.#config, application_name: 'halo-link-cancel' });
    side.on('error', () => undefined);
    try {
      await side.connect();
      await side.query('SELECT pg_cancel_backend($1)', [this.#pid]);
    } finally {
      await side.end().catch(() => undefined);
    }
  }

  /** Drops the connection at once (a statement that would not stop); the connector opens a new one. */
  discard(): void {
    this.#alive = false;
    const stream = (this.client as unknown as { connection?: { stream?: { destroy?: () => void } } }).connection?.stream;
    stream?.destroy?.();
  }

  async close(): Promise<void> {
    this.#alive = false;
    let timer: NodeJS.Timeout | undefined;
    const ended = this.client.end().catch(() => undefined);
    const late = new Promise<void>((resolve) => { timer = setTimeout(() => { this.discard(); resolve(); }, ABORT_MS); });
    await Promise.race([ended, late]);
    clearTimeout(timer);
  }
}

/** A pg-cursor that reports when its portal is described (columns known) or the statement failed to prepare. */
class DescribedCursor extends Cursor<unknown[]> {
  readonly described = Promise.withResolvers<FieldDef[]>();
  // pg-cursor's own field ('initialized', 'idle', 'busy', 'done', 'error'); declared only, so it is not reset.
  declare state: string | undefined;

  constructor(text: string, values: unknown[], config: Cursor.CursorQueryConfig) {
    super(text, values, config);
    this.described.promise.catch(() => undefined);
  }

  handleRowDescription(message: { fields: FieldDef[] }): void {
    (Cursor.prototype as unknown as { handleRowDescription(m: unknown): void }).handleRowDescription.call(this, message);
    this.described.resolve(message.fields);
  }

  _ifNoData(): void {
    (Cursor.prototype as unknown as { _ifNoData(): void })._ifNoData.call(this);
    this.described.resolve([]);
  }

  handleError(message: unknown): void {
    this.described.reject(message);
    (Cursor.prototype as unknown as { handleError(m: unknown): void }).handleError.call(this, message);
  }
}

/**
 * One statement in its own transaction: `BEGIN READ ONLY` (reader, scalar) or `BEGIN READ WRITE` (nonQuery),
 * with `statement_timeout` set to the time left; rows come through a portal, `read(n)` rows per pull.
 */
class PostgresStatement implements ServerStatement {
  readonly ready: Promise<ColumnInfo[]>;
  affected: number | undefined;
  outputRow: Cell[] | undefined;
  readonly #session: PostgresSession;
  readonly #plan: StatementPlan;
  #cursor: DescribedCursor | undefined;
  readonly #trips: RoundTrips;
  #ended = false;

  constructor(session: PostgresSession, plan: StatementPlan) {
    this.#session = session;
    this.#trips = new RoundTrips(session, 'PostgreSQL', postgresError);
    this.#plan = plan;
    this.ready = this.#begin();
    this.ready.catch(() => undefined);
  }

  async read(hint: number): Promise<Cell[][] | undefined> {
    const cursor = this.#cursor;
    if (!cursor || this.#ended) return undefined;
    const rows = await this.#trips.run(() => cursor.read(hint));
    if (rows.length === 0) {
      this.#ended = true;
      return undefined;
    }
    return rows.map((row) => row.map(toCell));
  }

  async finish(): Promise<void> {
    const cursor = this.#cursor;
    if (cursor && cursor.state === 'idle') await this.#trips.run(() => cursor.close());
    this.#ended = true;
    await this.#trips.run(() => this.#session.client.query(this.#plan.write ? 'COMMIT' : 'ROLLBACK'));
  }

  abort(): Promise<void> {
    return this.#trips.stop(() => this.#abort());
  }

  async #begin(): Promise<ColumnInfo[]> {
    const { client } = this.#session;
    const { write, timeoutMs, text, values } = this.#plan;
    // A SELECT, not SET: it takes the transaction's snapshot, after which SET TRANSACTION READ WRITE is refused.
    await this.#trips.run(() => client.query(
      `BEGIN ${write ? 'READ WRITE' : 'READ ONLY'}; ` +
      `SELECT set_config('statement_timeout', '${timeoutMs}', true), ` +
      `set_config('idle_in_transaction_session_timeout', '${timeoutMs + IDLE_MARGIN_MS}', true)`,
    ));
    const fromResult = this.#plan.procedure?.outputsFromResult === true;
    if (write || fromResult) {
      const result = await this.#trips.run(() => client.query({ text, values, rowMode: 'array' }));
      if (write) this.affected = result.rowCount ?? 0;
      // A procedure's INOUT/OUT values (or a function's result) are the call's one row, not rows of the result.
      if (fromResult) this.outputRow = ((result.rows[0] ?? []) as unknown[]).map(toCell);
      this.#ended = true;
      return [];
    }
    const cursor = new DescribedCursor(text, values, { rowMode: 'array', types: POSTGRES_TYPES });
    this.#cursor = cursor;
    const fields = await this.#trips.run(() => {
      client.query(cursor);
      return cursor.described.promise;
    });
    return fields.map((field) => ({ name: field.name, type: postgresTypeName(field.dataTypeID) }));
  }

  async #abort(): Promise<void> {
    const session = this.#session;
    const stop = async () => {
      if (!session.alive) return;
      const busy = this.#trips.busy;
      if (busy) {
        // A statement running on the server (or a pull in flight) is cancelled there; a cancel that lands after
        // it finished finds the backend idle and is ignored by PostgreSQL.
        await session.cancelBackend();
        await busy;
      }
      const cursor = this.#cursor;
      if (cursor && cursor.state === 'idle') await cursor.close();
      if (session.alive) await session.client.query('ROLLBACK');
    };
    try {
      await stopWithin(ABORT_MS, stop, () => session.discard());
    } finally {
      this.#ended = true;
    }
  }
}

function connectError(error: unknown, config: ClientConfig): AppError {
  if (error instanceof AppError) return error;
  const mapped = postgresError(error);
  const where = `${config.host}:${config.port}/${config.database}`;
  return new AppError('site_offline', `cannot open PostgreSQL database ${where}: ${mapped.message}`, { cause: error });
}
