import { fork } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { AppError } from '@halo/contracts';
import type { Cell, ColumnInfo } from '@halo/contracts';
import type { WorkerEvent, WorkerRequest } from './sqlite-protocol.ts';

const WORKER_FILE = fileURLToPath(new URL('./sqlite-worker.ts', import.meta.url));
const CLOSE_GRACE_MS = 2_000;

/** What one query produced, as collected from the worker's batches. */
export interface WorkerResult {
  columns: ColumnInfo[];
  rows: Cell[][];
  rowCount: number;
  bytes: number;
  affected?: number;
}

type QueryMessage = Omit<Extract<WorkerRequest, { type: 'query' }>, 'type' | 'id'>;

interface Pending {
  id: number;
  result: WorkerResult;
  resolve(result: WorkerResult): void;
  reject(error: AppError): void;
}

/** Parent-side handle of one SQLite worker process: start, run one query at a time, kill. */
export class SqliteProcess {
  readonly #child: ChildProcess;
  #pending: Pending | undefined;
  #nextId = 1;
  #exited = false;
  #killReason: AppError | undefined;
  readonly #exit: Promise<void>;

  private constructor(child: ChildProcess) {
    this.#child = child;
    this.#exit = new Promise((resolve) => child.once('exit', () => resolve()));
    child.on('message', (event: WorkerEvent) => this.#onEvent(event));
    child.once('exit', () => {
      this.#exited = true;
      this.#pending?.reject(this.#killReason ?? new AppError('internal', 'the SQLite worker stopped unexpectedly'));
      this.#pending = undefined;
    });
    // An idle worker must not keep the caller's process alive; it is ref'd only while a query runs.
    this.#setRef(false);
  }

  /** Starts a worker and opens the database in it; rejects if the file cannot be opened. */
  static async start(path: string, allowWrites: boolean): Promise<SqliteProcess> {
    const child = fork(WORKER_FILE, [], {
      serialization: 'advanced', // keeps bigint and Buffer parameters intact
      execArgv: [], // the caller's flags (--test, --inspect, ...) do not belong in the worker
      stdio: ['ignore', 'ignore', 'ignore', 'ipc'],
    });
    const ready = new Promise<void>((resolve, reject) => {
      child.on('error', () => reject(new AppError('internal', 'the SQLite worker could not be started')));
      child.once('exit', () => reject(new AppError('internal', 'the SQLite worker stopped while opening the database')));
      child.once('message', (event: WorkerEvent) => {
        if (event.type === 'ready') resolve();
        else if (event.type === 'error') reject(new AppError(event.code, event.message));
      });
    });
    const worker = new SqliteProcess(child);
    const open: WorkerRequest = { type: 'open', path, allowWrites };
    child.send(open);
    worker.#setRef(true);
    try {
      await ready;
    } catch (error) {
      worker.kill();
      throw error;
    } finally {
      worker.#setRef(false);
    }
    return worker;
  }

  /** False once the process has exited or been killed. */
  get alive(): boolean {
    return !this.#exited && this.#child.connected;
  }

  /** Runs one query; the caller serialises queries. */
  run(query: QueryMessage): Promise<WorkerResult> {
    if (this.#pending) return Promise.reject(new AppError('internal', 'the SQLite worker is busy'));
    if (!this.alive) return Promise.reject(new AppError('internal', 'the SQLite worker is not running'));
    const id = this.#nextId++;
    const { promise, resolve, reject } = Promise.withResolvers<WorkerResult>();
    this.#pending = { id, result: { columns: [], rows: [], rowCount: 0, bytes: 2 }, resolve, reject };
    this.#setRef(true);
    const message: WorkerRequest = { type: 'query', id, ...query };
    this.#child.send(message);
    return promise.finally(() => this.#setRef(false));
  }

  /** True while a query runs. */
  get busy(): boolean {
    return this.#pending !== undefined;
  }

  /** Stops the worker at once, and with it any statement it is running (which then fails with `reason`). */
  kill(reason?: AppError): void {
    if (this.#exited) return;
    this.#killReason = reason;
    this.#child.kill('SIGKILL');
  }

  /** Lets the worker close the database and exit; kills it if it does not within a grace period. */
  async close(): Promise<void> {
    if (this.#exited) return;
    if (this.#child.connected) this.#child.disconnect();
    const timer = setTimeout(() => this.kill(), CLOSE_GRACE_MS);
    await this.#exit;
    clearTimeout(timer);
  }

  #onEvent(event: WorkerEvent): void {
    const pending = this.#pending;
    if (!pending || !('id' in event) || event.id !== pending.id) return;
    switch (event.type) {
      case 'columns':
        pending.result.columns = event.columns;
        return;
      case 'rows':
        for (const row of event.rows) pending.result.rows.push(row);
        return;
      case 'done':
        this.#pending = undefined;
        pending.resolve({
          ...pending.result,
          rowCount: event.rowCount,
          bytes: event.bytes,
          ...(event.affected === undefined ? {} : { affected: event.affected }),
        });
        return;
      case 'error':
        this.#pending = undefined;
        pending.reject(new AppError(event.code, event.message));
        return;
    }
  }

  #setRef(referenced: boolean): void {
    if (referenced) {
      this.#child.ref();
      this.#child.channel?.ref();
    } else {
      this.#child.unref();
      this.#child.channel?.unref();
    }
  }
}
