import { fork } from 'node:child_process';
import type { ChildProcess, ForkOptions } from 'node:child_process';
import { existsSync } from 'node:fs';
import type { Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { AppError } from '@halo/contracts';
import { memoryLimitError } from '../../connector/resource-limits.ts';
import { MEMORY_EXCEEDED, WATCHDOG_FD } from './sqlite-memory-watchdog.ts';
import type { Batch, WorkerEvent, WorkerRequest } from './sqlite-protocol.ts';
import { WorkerStatement } from './sqlite-statement.ts';

const WORKER_FILE = fileURLToPath(new URL('./sqlite-worker.ts', import.meta.url));
const CLOSE_GRACE_MS = 2_000;
/** The argument a SQLite worker process is started with. */
export const SQLITE_WORKER_FLAG = '--halo-sqlite-worker';
const SETPRIV = process.platform === 'linux' ? ['/usr/bin/setpriv', '/bin/setpriv'].find((path) => existsSync(path)) : undefined;

/**
 * The worker exits on the IPC disconnect when the agent dies, but only once its statement returns to JavaScript;
 * inside one long sqlite3_step() it would run on. On Linux the kernel kills it with the agent instead (util-linux
 * `setpriv --pdeathsig`, which execs Node in place; the signal follows the spawning thread, the agent's main one).
 */
function killedWithParent(options: ForkOptions): ForkOptions {
  if (!SETPRIV) return options;
  return { ...options, execPath: SETPRIV, execArgv: ['--pdeathsig', 'KILL', '--', process.execPath, ...(options.execArgv ?? [])] };
}

function forkWorker(): ChildProcess {
  // The flag names the child's role to a shipped agent, whose one executable is also its SQLite worker.
  return fork(WORKER_FILE, [SQLITE_WORKER_FLAG], killedWithParent({
    serialization: 'advanced', // keeps bigint and Buffer parameters intact
    // The caller's flags (--test, --inspect, ...) do not belong in the worker. A small young generation keeps
    // its RSS flat: under a long stream's allocation rate V8 would grow it to 2 x 64 MiB of garbage.
    // HALO_CPU_PROF_DIR: a V8 CPU profile of each worker too, as of every service process (written when it exits).
    execArgv: ['--max-semi-space-size=8', ...(process.env.HALO_CPU_PROF_DIR ? ['--cpu-prof', `--cpu-prof-dir=${process.env.HALO_CPU_PROF_DIR}`] : [])],
    stdio: ['ignore', 'ignore', 'ignore', 'ipc', 'pipe'], // 4: the memory watchdog's report
  }));
}

/** Un-refs a child and its pipes so it does not keep the caller's process alive, or refs them again. */
function setChildRef(child: ChildProcess, referenced: boolean): void {
  const watchdog = child.stdio[WATCHDOG_FD] as Socket | null | undefined;
  if (referenced) {
    child.ref();
    child.channel?.ref();
    watchdog?.ref();
  } else {
    child.unref();
    child.channel?.unref();
    watchdog?.unref();
  }
}

/** How long a site's worker waits idle before any other site may take it (it keeps its database open till then). */
const RELEASE_AFTER_MS = 500;
/** Workers whose sites have gone quiet, oldest first: a site that needs a worker reopens one of these with its own database. */
const released = new Set<SqliteProcess>();

function takeReleased(): SqliteProcess | undefined {
  for (const worker of released) {
    released.delete(worker);
    if (worker.alive) return worker;
  }
  return undefined;
}

type QueryMessage = Omit<Extract<WorkerRequest, { type: 'query' }>, 'type' | 'id'>;

/** Parent-side handle of one SQLite worker process: start, run one statement at a time, kill. */
export class SqliteProcess {
  readonly #child: ChildProcess;
  #current: { id: number; statement: WorkerStatement } | undefined;
  #nextId = 1;
  #exited = false;
  #killReason: AppError | undefined;
  readonly #exit: Promise<void>;
  #idleMs: number | undefined;
  #idleTimer: NodeJS.Timeout | undefined;
  #releaseTimer: NodeJS.Timeout | undefined;
  #maxMemoryBytes: number | undefined;
  /** The connector whose database the worker has open; it alone runs statements on it. */
  #owner: object;

  private constructor(child: ChildProcess, owner: object, maxMemoryBytes: number | undefined, idleMs: number | undefined) {
    this.#child = child;
    this.#owner = owner;
    this.#idleMs = idleMs;
    this.#maxMemoryBytes = maxMemoryBytes;
    // The memory watchdog says why it is about to kill the process before it does: its statement fails with that.
    let report = '';
    const watchdog = child.stdio[WATCHDOG_FD];
    watchdog?.on('data', (chunk: Buffer) => {
      report += chunk.toString('latin1');
      if (this.#maxMemoryBytes !== undefined && report.includes(MEMORY_EXCEEDED)) this.#killReason ??= memoryLimitError(this.#maxMemoryBytes);
    });
    watchdog?.on('error', () => {});
    // 'exit' can come before the last of the pipe is read: the statement fails once the report is in.
    const reported = new Promise<void>((resolve) => (watchdog ? watchdog.once('close', () => resolve()) : resolve()));
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    this.#exit = Promise.all([exited, reported]).then(() => undefined);
    child.on('message', (event: WorkerEvent) => this.#onEvent(event));
    child.once('exit', () => {
      this.#exited = true;
      clearTimeout(this.#idleTimer);
      clearTimeout(this.#releaseTimer);
      released.delete(this);
    });
    void this.#exit.then(() => {
      this.#current?.statement.fail(this.#killReason ?? new AppError('internal', 'the SQLite worker stopped unexpectedly'));
      this.#current = undefined;
    });
    // An idle worker must not keep the caller's process alive; it is ref'd only while a query runs.
    this.#setRef(false);
  }

  /**
   * A worker for `owner` with the database open: one a quiet site released (its database swapped for this one),
   * else a new process. Rejects if the file cannot be opened. With `maxMemoryBytes`, a statement
   * that takes the process past it fails with resource_limit_exceeded (the process is killed). With `idleMs`, the
   * worker closes itself once that long has passed without a statement.
   */
  static async start(owner: object, path: string, allowWrites: boolean, maxMemoryBytes?: number, idleMs?: number): Promise<SqliteProcess> {
    const reused = takeReleased();
    if (reused) {
      reused.#owner = owner;
      reused.#idleMs = idleMs;
      reused.#maxMemoryBytes = maxMemoryBytes;
      await reused.#open(path, allowWrites, maxMemoryBytes);
      return reused;
    }
    const worker = new SqliteProcess(forkWorker(), owner, maxMemoryBytes, idleMs);
    await worker.#open(path, allowWrites, maxMemoryBytes);
    return worker;
  }

  /**
   * Takes the worker back for its owner if no other site has taken it since it was released; true if it is
   * the owner's to run statements on.
   */
  claim(owner: object): boolean {
    if (this.#owner !== owner || !this.alive) return false;
    clearTimeout(this.#releaseTimer);
    released.delete(this);
    return true;
  }

  async #open(path: string, allowWrites: boolean, maxMemoryBytes: number | undefined): Promise<void> {
    const child = this.#child;
    clearTimeout(this.#idleTimer);
    let settle: (() => void) | undefined;
    const ready = new Promise<void>((resolve, reject) => {
      const onError = () => reject(new AppError('internal', 'the SQLite worker could not be started'));
      const onExit = () => reject(new AppError('internal', 'the SQLite worker stopped while opening the database'));
      const onMessage = (event: WorkerEvent) => {
        if (event.type === 'ready') resolve();
        else if (event.type === 'error') reject(new AppError(event.code, event.message));
      };
      child.on('error', onError);
      child.once('exit', onExit);
      child.on('message', onMessage);
      settle = () => {
        child.off('error', onError);
        child.off('exit', onExit);
        child.off('message', onMessage);
      };
    });
    const open: WorkerRequest = { type: 'open', path, allowWrites, maxMemoryBytes };
    this.#setRef(true);
    this.#send(open);
    try {
      await ready;
    } catch (error) {
      this.kill();
      throw error;
    } finally {
      settle?.();
      this.#setRef(false);
    }
    this.#armIdle();
  }

  /** False once the process has exited or been killed. */
  get alive(): boolean {
    return !this.#exited && this.#child.connected;
  }

  /** Starts one statement; the caller serialises statements and pulls its batches. */
  run<B extends Batch>(query: QueryMessage): WorkerStatement<B> {
    if (this.#current) throw new AppError('internal', 'the SQLite worker is busy');
    if (!this.alive) throw new AppError('internal', 'the SQLite worker is not running');
    clearTimeout(this.#idleTimer);
    clearTimeout(this.#releaseTimer);
    released.delete(this);
    const id = this.#nextId++;
    const statement = new WorkerStatement<B>(
      (batches) => this.#send({ type: 'more', id, batches }),
      () => this.#send({ type: 'stop', id }),
    );
    // The worker sends batches of the kind the query asked for (its encoding), so the events match B.
    this.#current = { id, statement: statement as unknown as WorkerStatement };
    this.#setRef(true);
    this.#send({ type: 'query', id, ...query });
    return statement;
  }

  /** True while a statement runs. */
  get busy(): boolean {
    return this.#current !== undefined;
  }

  /** Resolves once the process has exited. */
  get exited(): Promise<void> {
    return this.#exit;
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
    const current = this.#current;
    if (!current || !('id' in event) || event.id !== current.id) return;
    switch (event.type) {
      case 'columns':
        current.statement.columns(event.columns);
        return;
      case 'rows':
        if (event.columns) current.statement.columns(event.columns);
        current.statement.rows(event.rows);
        return;
      case 'done':
        this.#settle();
        current.statement.done({
          rowCount: event.rowCount,
          bytes: event.bytes,
          ...(event.affected === undefined ? {} : { affected: event.affected }),
        }, event.rows, event.columns);
        return;
      case 'error':
        this.#settle();
        current.statement.fail(new AppError(event.code, event.message));
        return;
    }
  }

  #settle(): void {
    this.#current = undefined;
    this.#setRef(false);
    this.#armIdle();
    clearTimeout(this.#releaseTimer);
    this.#releaseTimer = setTimeout(() => {
      if (this.alive && !this.busy) released.add(this);
    }, RELEASE_AFTER_MS).unref();
  }

  #armIdle(): void {
    if (this.#idleMs === undefined) return;
    clearTimeout(this.#idleTimer);
    // Unref'd: a pending idle exit must not keep the caller's process alive.
    this.#idleTimer = setTimeout(() => void this.close(), this.#idleMs).unref();
  }

  #send(message: WorkerRequest): void {
    // A failed send means the process is gone; its exit fails the statement, so the error needs no handling.
    if (this.#child.connected) this.#child.send(message, () => {});
  }

  #setRef(referenced: boolean): void {
    setChildRef(this.#child, referenced);
  }
}
