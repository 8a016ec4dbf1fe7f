import { AppError } from '@halo/contracts';

/** What round trips need of their connection: whether it still works. */
interface Liveness {
  readonly alive: boolean;
}

/**
 * A server statement's round trips. Each is remembered while in flight, so a cancel knows whether the server is
 * busy with this statement; once a stop was asked (or the connection died) no further round trip starts.
 */
export class RoundTrips {
  readonly #connection: Liveness;
  readonly #engineName: string;
  readonly #mapError: (error: unknown) => AppError;
  #busy: Promise<void> | undefined;
  #stopRequested = false;
  #stopping: Promise<void> | undefined;

  /** `engineName` names the server in the lost-connection error; `mapError` turns driver errors into AppErrors. */
  constructor(connection: Liveness, engineName: string, mapError: (error: unknown) => AppError) {
    this.#connection = connection;
    this.#engineName = engineName;
    this.#mapError = mapError;
  }

  /** Settles (never rejects) when the round trip in flight does; undefined while none is. */
  get busy(): Promise<void> | undefined {
    return this.#busy;
  }

  /** Runs one round trip, its failure mapped to an AppError. */
  async run<T>(step: () => Promise<T>): Promise<T> {
    if (this.#stopRequested) throw new AppError('cancelled', 'the query was cancelled');
    if (!this.#connection.alive) throw new AppError('query_failed', `the connection to ${this.#engineName} was lost`);
    const pending = step();
    this.#busy = pending.then(() => undefined, () => undefined);
    try {
      return await pending;
    } catch (error) {
      throw this.#mapError(error);
    } finally {
      this.#busy = undefined;
    }
  }

  /** Refuses every later round trip and runs `abort` once; later calls share its promise. */
  stop(abort: () => Promise<void>): Promise<void> {
    this.#stopRequested = true;
    this.#stopping ??= abort();
    return this.#stopping;
  }
}
