import { AppError } from '@halo/contracts';
import type { QueryGuard } from './query-guard.ts';

/** One statement's place in its connector's queue. */
export interface Turn<C> {
  /** Hands the turn to the statement's cursor, which from now on must call release() when it is done. */
  readonly adopt: (cursor: C) => void;
  /** Frees the connector for the next statement; safe to call more than once. */
  readonly release: () => void;
}

/**
 * A connector's statements, run one at a time in arrival order, and the cursor that holds the connector now.
 * A streamed statement holds it until its cursor releases the turn (finished, left or cancelled).
 */
export class StatementQueue<C extends { cancel(reason?: unknown): Promise<void> }> {
  #tail: Promise<void> = Promise.resolve();
  #current: C | undefined;

  /** The cursor holding the connector, if a streamed statement does. */
  get current(): C | undefined {
    return this.#current;
  }

  /** Resolves once every statement queued so far has released its turn. */
  drained(): Promise<void> {
    return this.#tail;
  }

  /** Closing: cancels the cursor holding the connector, then waits for every queued statement to take (and refuse) its turn. */
  async cancelAndDrain(reason: AppError): Promise<void> {
    await this.#current?.cancel(reason);
    await this.#tail;
  }

  /**
   * Waits for this statement's turn (or for its guard to stop it first), refuses it if the connector closed
   * meanwhile, then runs `start`. Until `start` adopts a cursor, a failure disposes the guard and frees the turn;
   * afterwards the cursor owns both.
   */
  async run(guard: QueryGuard, isClosed: () => boolean, start: (turn: Turn<C>) => Promise<C>): Promise<C> {
    const previous = this.#tail;
    const next = Promise.withResolvers<void>();
    // The next statement waits for this one and every earlier one, even when this one gives up early.
    this.#tail = previous.then(() => next.promise);
    let owner: C | undefined;
    const turn: Turn<C> = {
      adopt: (cursor) => {
        owner = cursor;
        this.#current = cursor;
      },
      release: () => {
        if (this.#current === owner) this.#current = undefined;
        next.resolve();
      },
    };
    try {
      await Promise.race([previous, guard.stopped]);
      if (isClosed()) throw new AppError('internal', 'the connector is closed');
      return await start(turn);
    } finally {
      if (owner === undefined) {
        guard.dispose();
        next.resolve();
      }
    }
  }
}
