import { AppError } from '@halo/contracts';
import type { ColumnInfo } from '@halo/contracts';
import type { ResultSummary } from '../../connector/connector.ts';
import { cancelError, failureError } from '../../connector/cursor-errors.ts';
import { elapsedMs } from '../../connector/elapsed-ms.ts';
import type { QueryGuard } from '../../connector/query-guard.ts';
import { SerialReads } from '../../connector/serial-reads.ts';
import type { WorkerStatement } from './sqlite-statement.ts';
import type { Batch } from './sqlite-protocol.ts';
import { turnRelease } from '../../connector/turn-release.ts';

// How long a cursor left early waits for the worker to finalise the statement itself before killing it.
// A worker waiting for credit answers at once; one busy inside a long sqlite3_step() cannot answer at all.
const STOP_GRACE_MS = 250;

/** What a cursor needs from its connector. */
export interface CursorHooks {
  /** Kills the worker running the statement (the next statement gets a fresh one); resolves once it exited. */
  kill(reason: AppError): Promise<void>;
  /** Frees the connector for its next statement; called exactly once. */
  release(): void;
}

type State = 'open' | 'ended' | 'closed' | 'failed';

/**
 * A SQLite result read under credit. It owns the connector's turn until it ends, fails, is left early or is
 * cancelled; the query's deadline and abort signal cancel it whether or not anyone is iterating.
 */
export class SqliteCursor<B extends Batch> implements AsyncIterable<B> {
  readonly columns: ColumnInfo[];
  readonly #statement: WorkerStatement<B>;
  readonly #hooks: CursorHooks;
  readonly #release: () => void;
  readonly #started: number;
  readonly #reads = new SerialReads();
  #state: State = 'open';
  #error: AppError | undefined;
  #summary: ResultSummary | undefined;
  #stopping: Promise<void> | undefined;

  constructor(columns: ColumnInfo[], statement: WorkerStatement<B>, guard: QueryGuard, started: number, hooks: CursorHooks) {
    this.columns = columns;
    this.#statement = statement;
    this.#hooks = hooks;
    this.#release = turnRelease(guard, () => hooks.release());
    this.#started = started;
    guard.stopped.catch((reason: unknown) => this.cancel(reason));
  }

  summary(): ResultSummary {
    if (!this.#summary) throw new AppError('internal', 'the result has not been read to the end');
    return this.#summary;
  }

  cancel(reason?: unknown): Promise<void> {
    if (this.#state !== 'open') return this.#stopping ?? Promise.resolve();
    const error = cancelError(reason);
    this.#fail(error);
    // Only a killed process really stops a statement that may be busy inside SQLite. Its exit fails a pending
    // read, and the connector is released only then, so nothing overlaps the dying statement.
    const killed = this.#statement.isSettled ? Promise.resolve() : this.#hooks.kill(error);
    this.#stopping = killed.then(() => this.#release());
    return this.#stopping;
  }

  [Symbol.asyncIterator](): AsyncIterator<B, undefined> {
    return {
      next: () => this.#reads.run(() => this.#read()),
      return: async () => {
        await this.#leave();
        return { done: true, value: undefined };
      },
    };
  }

  async #read(): Promise<IteratorResult<B, undefined>> {
    if (this.#state !== 'open') return this.#afterOpen();
    let batch: B | undefined;
    try {
      // No race with a long-lived "cancelled" promise here: each race would leave a reaction on it that keeps
      // its batch reachable. A cancel kills the worker, and its exit rejects this read.
      batch = await this.#statement.read();
    } catch (error) {
      // The statement failed (SQL error, result_too_large, worker gone): the worker already ended it.
      if (this.#state === 'open') {
        this.#fail(failureError(error));
        this.#release();
      }
      return this.#afterOpen();
    }
    if (this.#state !== 'open') return this.#afterOpen();
    if (batch) return { done: false, value: batch };
    const summary = this.#statement.summary ?? { rowCount: 0, bytes: 2 };
    this.#summary = { ...summary, executionMs: elapsedMs(this.#started) };
    this.#state = 'ended';
    this.#release();
    return { done: true, value: undefined };
  }

  async #afterOpen(): Promise<IteratorResult<B, undefined>> {
    // A cancelled statement's error surfaces only once its process is gone.
    await this.#stopping;
    if (this.#state === 'failed') throw this.#error;
    return { done: true, value: undefined };
  }

  /** Leaving early: let an idle worker finalise the statement (it keeps its process), else kill it. */
  async #leave(): Promise<void> {
    if (this.#state !== 'open') return;
    this.#state = 'closed';
    if (!this.#statement.isSettled) {
      this.#statement.stop();
      let timer: NodeJS.Timeout | undefined;
      const graceful = await Promise.race([
        this.#statement.settled.then(() => true),
        new Promise<false>((resolve) => { timer = setTimeout(() => resolve(false), STOP_GRACE_MS); }),
      ]);
      clearTimeout(timer);
      if (!graceful) await this.#hooks.kill(new AppError('cancelled', 'the query was cancelled'));
    }
    this.#release();
  }

  #fail(error: AppError): void {
    this.#state = 'failed';
    this.#error = error;
  }
}
