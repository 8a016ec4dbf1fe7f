import { AppError } from '@halo/contracts';
import type { ColumnInfo } from '@halo/contracts';
import type { Batch } from './sqlite-protocol.ts';

/** Totals the worker reports when a statement ends. */
export interface StatementSummary {
  rowCount: number;
  bytes: number;
  affected?: number;
}

/**
 * Parent-side view of one statement in the SQLite worker: the columns once it is prepared, then its batches,
 * pulled one at a time. Taking a batch grants the worker credit for one more, so no more than the initial
 * credit ever waits here.
 */
export class WorkerStatement<B extends Batch = Batch> {
  readonly #prepared = Promise.withResolvers<ColumnInfo[]>();
  readonly #settled = Promise.withResolvers<void>();
  readonly #batches: B[] = [];
  readonly #grant: (batches: number) => void;
  readonly #stop: () => void;
  #waiter: PromiseWithResolvers<B | undefined> | undefined;
  #summary: StatementSummary | undefined;
  #error: AppError | undefined;

  constructor(grant: (batches: number) => void, stop: () => void) {
    this.#grant = grant;
    this.#stop = stop;
    this.#prepared.promise.catch(() => {});
  }

  /** Resolves with the columns once the statement is prepared and bound; rejects if that fails. */
  get prepared(): Promise<ColumnInfo[]> {
    return this.#prepared.promise;
  }

  /** Resolves once the worker is done with the statement: ended, failed, stopped or killed. */
  get settled(): Promise<void> {
    return this.#settled.promise;
  }

  /** True once the worker is done with the statement and free for the next. */
  get isSettled(): boolean {
    return this.#summary !== undefined || this.#error !== undefined;
  }

  /** The worker's totals, once it reported the end. */
  get summary(): StatementSummary | undefined {
    return this.#summary;
  }

  /** The next batch, or undefined at the end; rejects with the statement's error after the batches before it. */
  read(): Promise<B | undefined> {
    const batch = this.#batches.shift();
    if (batch) {
      if (!this.isSettled) this.#grant(1);
      return Promise.resolve(batch);
    }
    if (this.#error) return Promise.reject(this.#error);
    if (this.#summary) return Promise.resolve(undefined);
    if (this.#waiter) return Promise.reject(new AppError('internal', 'one batch is read at a time'));
    this.#waiter = Promise.withResolvers();
    return this.#waiter.promise;
  }

  /** Asks the worker to finalise the statement without reading further; `settled` follows. */
  stop(): void {
    if (!this.isSettled) this.#stop();
  }

  /** Worker event: prepared. */
  columns(columns: ColumnInfo[]): void {
    this.#prepared.resolve(columns);
  }

  /** Worker event: one batch. */
  rows(rows: B): void {
    const waiter = this.#waiter;
    if (!waiter) {
      this.#batches.push(rows);
      return;
    }
    this.#waiter = undefined;
    this.#grant(1);
    waiter.resolve(rows);
  }

  /**
   * Worker event: the statement ended (or stopped as asked), with its last batch if that is still to come, and
   * its columns if they were not sent before (a `whole` query).
   */
  done(summary: StatementSummary, last?: B, columns: ColumnInfo[] = []): void {
    if (this.isSettled) return;
    // Settled first, so taking the last batch grants the finished worker no credit.
    this.#summary = summary;
    this.#prepared.resolve(columns);
    this.#settled.resolve();
    const waiter = this.#waiter;
    this.#waiter = undefined;
    if (last === undefined) waiter?.resolve(undefined);
    else if (waiter) waiter.resolve(last);
    else this.#batches.push(last);
  }

  /** Worker event, or the worker's exit: the statement failed. */
  fail(error: AppError): void {
    if (this.isSettled) return;
    this.#error = error;
    this.#prepared.reject(error);
    this.#settled.resolve();
    this.#waiter?.reject(error);
    this.#waiter = undefined;
  }
}
