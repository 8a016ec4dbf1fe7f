import { AppError, type Cell, type EncodedRows, type RowFormat } from '@halo/contracts';
import { Connection } from 'tedious';
import type { ConnectionConfiguration } from 'tedious';
import { checkQueryInput } from '../../connector/check-input.ts';
import { collectResult } from '../../connector/collect-result.ts';
import type { Connector, EncodedCursor, QueryInput, QueryOutput, ResultCursor } from '../../connector/connector.ts';
import { checkMssqlConfig, mssqlIdentity } from './mssql-config.ts';
import type { MssqlConfig } from './mssql-config.ts';
import { MssqlCursor } from './mssql-cursor.ts';
import { mssqlConnectError } from './mssql-errors.ts';
import { checkLoginAccess, loginAccessWarning } from './mssql-login-check.ts';
import type { LoginAccess } from './mssql-login-check.ts';
import { mssqlParameters } from './mssql-parameters.ts';
import { guardQuery } from '../../connector/query-guard.ts';
import { checkProcedureInput, isProcedureCall } from '../../connector/procedure-call.ts';
import { assertReadOnly } from '../../guard/read-only-guard.ts';
import { resolvePassword } from '../server/server-config.ts';
import { StatementQueue } from '../../connector/statement-queue.ts';

/** Node process-warning code of the start-up warning for a SQL Server login that can write. */
export const MSSQL_WRITABLE_LOGIN_WARNING = 'HALO_MSSQL_LOGIN_CAN_WRITE';

/** A SQL Server connector; `loginAccess` holds the start-up permission check (undefined when writes are allowed). */
export interface MssqlConnector extends Connector {
  readonly engine: 'mssql';
  readonly loginAccess: LoginAccess | undefined;
}

/**
 * Connects and logs in (failing fast on a wrong host, instance, login or database), then, unless writes are
 * allowed, checks what the login may do and emits a process warning (code HALO_MSSQL_LOGIN_CAN_WRITE) when it can write.
 */
export async function openMssqlConnector(config: MssqlConfig): Promise<MssqlConnector> {
  checkMssqlConfig(config);
  const connector = new SqlServerConnector(config, await connect(config));
  if (config.allowWrites !== true) {
    const access = await checkLoginAccess(connector);
    connector.loginAccess = access;
    if (access.canWrite) {
      process.emitWarning(loginAccessWarning(connector.identity(), config.user, access), { code: MSSQL_WRITABLE_LOGIN_WARNING });
    }
  }
  return connector;
}

/**
 * SQL Server over one tedious connection. Statements run one at a time in arrival order through sp_executesql
 * (stored procedures as an RPC of their own, with output parameters and the RETURN status);
 * a streamed one holds the connector until its cursor is finished, left or cancelled. Deadlines, aborts and
 * cancels send ATTENTION (tedious's own request timer stops at the first packet of the answer, so it cannot
 * bound a long stream); the connection stays usable afterwards, and one that broke is replaced for the next statement.
 */
class SqlServerConnector implements MssqlConnector {
  readonly engine = 'mssql' as const;
  loginAccess: LoginAccess | undefined;
  readonly #config: MssqlConfig;
  #connection: Connection | undefined;
  // Holds either kind of cursor (cells or encoded); it only ever cancels one.
  readonly #queue = new StatementQueue<{ cancel(reason?: unknown): Promise<void> }>();
  #closed = false;

  constructor(config: MssqlConfig, connection: Connection) {
    this.#config = config;
    this.#adopt(connection);
  }

  identity(): string {
    return mssqlIdentity(this.#config);
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

  async #start<B extends Cell[][] | EncodedRows>(input: QueryInput, format: RowFormat | undefined): Promise<MssqlCursor<B>> {
    if (this.#closed) throw new AppError('internal', 'the connector is closed');
    checkQueryInput(input);
    checkProcedureInput(input, true);
    if (this.#config.allowWrites !== true) {
      if (input.executionMode === 'nonQuery') throw new AppError('writes_disabled', 'writes are not enabled for this database');
      // SQL Server has no read-only transaction that would stop a procedure writing, so a call is a write.
      if (isProcedureCall(input)) throw new AppError('writes_disabled', 'a stored procedure may write, and writes are not enabled for this database');
      assertReadOnly(input.text, 'transactsql');
    }
    const parameters = mssqlParameters(input.parameters);
    const guard = guardQuery(input.deadline, input.signal);
    return this.#queue.run(guard, () => this.#closed, async (turn) => {
      const connection = await Promise.race([this.#ensureConnection(), guard.stopped]);
      const limited = { ...input, maxRowBytes: input.maxRowBytes ?? this.#config.maxRowBytes };
      const cursor = new MssqlCursor<B>(connection, limited, parameters, guard, {
        release: turn.release,
        broken: () => this.#discard(connection),
      }, format);
      turn.adopt(cursor);
      try {
        cursor.start();
        await cursor.prepared;
      } catch (error) {
        // The cursor, once started, releases the turn itself when tedious completes the request.
        await cursor.finished;
        throw error;
      }
      return cursor;
    }) as Promise<MssqlCursor<B>>;
  }

  /** Stops at once: a running statement is cancelled (ATTENTION), queued ones are refused, the connection closed. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#queue.cancelAndDrain(new AppError('internal', 'the connector was closed'));
    const connection = this.#connection;
    this.#connection = undefined;
    if (connection) await closeConnection(connection);
  }

  async #ensureConnection(): Promise<Connection> {
    if (this.#connection) return this.#connection;
    const connection = await connect(this.#config);
    if (this.#closed) {
      await closeConnection(connection);
      throw new AppError('internal', 'the connector is closed');
    }
    this.#adopt(connection);
    return connection;
  }

  #adopt(connection: Connection): void {
    this.#connection = connection;
    // After login, socket errors arrive as events; without a listener they would crash the process.
    connection.on('error', () => this.#discard(connection));
    connection.on('end', () => this.#discard(connection));
  }

  #discard(connection: Connection): void {
    if (this.#connection !== connection) return;
    this.#connection = undefined;
    connection.close();
  }
}

function connect(config: MssqlConfig): Promise<Connection> {
  const where = mssqlIdentity(config);
  const password = resolvePassword({ host: config.host, database: config.database, user: config.user, ...passwordSource(config) }) ?? '';
  const authentication: ConnectionConfiguration['authentication'] = config.authentication === 'ntlm'
    ? { type: 'ntlm', options: { domain: config.domain ?? '', userName: config.user, password } }
    : { type: 'default', options: { userName: config.user, password } };
  const connection = new Connection({
    server: config.host,
    authentication,
    options: {
      ...(config.instanceName ? { instanceName: config.instanceName } : { port: config.port ?? 1433 }),
      database: config.database,
      encrypt: config.encrypt ?? true,
      trustServerCertificate: config.trustServerCertificate ?? false,
      connectTimeout: config.connectTimeoutMs ?? 15_000,
      // 0 = tedious's own request timer off: the connector's deadline governs the whole statement.
      requestTimeout: 0,
      cancelTimeout: 5_000,
      rowCollectionOnRequestCompletion: false,
      useUTC: true,
      // On an availability group listener this routes to a readable secondary; elsewhere it changes nothing.
      readOnlyIntent: config.allowWrites !== true,
      appName: 'halo-agent',
      abortTransactionOnError: true,
    },
  });
  return new Promise((resolve, reject) => {
    // Errors before login completes come through the callback; this listener keeps a late one from crashing.
    const onError = () => {};
    connection.on('error', onError);
    connection.connect((error) => {
      connection.off('error', onError);
      if (error) {
        connection.close();
        reject(mssqlConnectError(error, where));
      } else resolve(connection);
    });
  });
}

function passwordSource(config: MssqlConfig): { password?: string; passwordFile?: string; passwordEnv?: string } {
  return {
    ...(config.password === undefined ? {} : { password: config.password }),
    ...(config.passwordFile === undefined ? {} : { passwordFile: config.passwordFile }),
    ...(config.passwordEnv === undefined ? {} : { passwordEnv: config.passwordEnv }),
  };
}

function closeConnection(connection: Connection): Promise<void> {
  return new Promise((resolve) => {
    if ((connection as unknown as { closed?: boolean }).closed) {
      resolve();
      return;
    }
    connection.once('end', () => resolve());
    connection.close();
    // 'end' always follows close(); the timer only guards against a connection already gone.
    setTimeout(resolve, 1_000).unref();
  });
}
