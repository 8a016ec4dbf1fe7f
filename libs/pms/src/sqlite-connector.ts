import { resolve } from 'node:path';
import { AppError } from '@halo/contracts';
import type { Connector, QueryInput, QueryOutput, SqliteConfig } from './connector.ts';
import { bindParameters } from './parameters.ts';
import { guardQuery } from './query-guard.ts';
import { SqliteProcess } from './sqlite-process.ts';

const MODES = new Set(['reader', 'scalar', 'nonQuery']);

/** Opens a SQLite database (read-only unless allowWrites) in its own worker process. */
export async function openSqliteConnector(config: SqliteConfig): Promise<Connector> {
  const path = resolve(config.path);
  const allowWrites = config.allowWrites === true;
  const worker = await SqliteProcess.start(path, allowWrites);
  return new SqliteConnector(path, allowWrites, worker);
}

/**
 * SQLite connector: statements run in a child process so the caller's event loop never blocks, and a
 * statement past its deadline (or aborted) is stopped by killing that process; the next query starts a
 * fresh one. Queries run one at a time, in arrival order.
 */
class SqliteConnector implements Connector {
  readonly engine = 'sqlite' as const;
  readonly #path: string;
  readonly #allowWrites: boolean;
  #worker: SqliteProcess | undefined;
  #tail: Promise<void> = Promise.resolve();
  #closed = false;

  constructor(path: string, allowWrites: boolean, worker: SqliteProcess) {
    this.#path = path;
    this.#allowWrites = allowWrites;
    this.#worker = worker;
  }

  identity(): string {
    return `sqlite:${this.#path}`;
  }

  async query(input: QueryInput): Promise<QueryOutput> {
    if (this.#closed) throw new AppError('internal', 'the connector is closed');
    checkInput(input);
    const parameters = bindParameters(input.parameters);
    const guard = guardQuery(input.deadline, input.signal);
    const previous = this.#tail;
    const turn = Promise.withResolvers<void>();
    // The next query waits for this one and every earlier one, even when this one gives up early.
    this.#tail = previous.then(() => turn.promise);
    try {
      await Promise.race([previous, guard.stopped]);
      if (this.#closed) throw new AppError('internal', 'the connector is closed');
      const worker = await Promise.race([this.#ensureWorker(), guard.stopped]);
      const started = performance.now();
      const running = worker.run({
        text: input.text,
        parameters,
        mode: input.executionMode,
        maxRows: input.maxRows,
        maxBytes: input.maxBytes,
      });
      let answered = false;
      running.then(() => { answered = true; }, () => { answered = true; });
      try {
        const result = await Promise.race([running, guard.stopped]);
        return { ...result, executionMs: Math.round((performance.now() - started) * 1000) / 1000 };
      } catch (error) {
        // Only a killed process really stops a statement that is busy inside SQLite.
        if (!answered) {
          worker.kill();
          if (this.#worker === worker) this.#worker = undefined;
        }
        throw error;
      }
    } finally {
      guard.dispose();
      turn.resolve();
    }
  }

  /** Stops at once: a running statement is killed and queued ones are refused. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const worker = this.#worker;
    if (worker?.busy) worker.kill(new AppError('internal', 'the connector was closed'));
    await this.#tail;
    await worker?.close();
    if (this.#worker !== worker) await this.#worker?.close();
    this.#worker = undefined;
  }

  async #ensureWorker(): Promise<SqliteProcess> {
    if (!this.#worker?.alive) this.#worker = await SqliteProcess.start(this.#path, this.#allowWrites);
    return this.#worker;
  }
}

function checkInput(input: QueryInput): void {
  if (typeof input.text !== 'string' || input.text.trim() === '') throw new AppError('bad_request', 'the command text is empty');
  if (!MODES.has(input.executionMode)) throw new AppError('bad_request', 'unknown execution mode');
  if (!Number.isFinite(input.deadline)) throw new AppError('bad_request', 'the deadline must be epoch milliseconds');
  for (const limit of [input.maxRows, input.maxBytes]) {
    if (limit !== undefined && !(Number.isInteger(limit) && limit >= 0)) {
      throw new AppError('bad_request', 'result limits must be non-negative integers');
    }
  }
}
