/**
 * Memory cap of a SQLite worker process. better-sqlite3 builds SQLite with SQLITE_DEFAULT_MEMSTATUS=0, under which
 * `PRAGMA hard_heap_limit` is accepted but never enforced, and it has no sqlite3_limit() binding, so one
 * `SELECT length(randomblob(500000000) || randomblob(1))` allocates ~1 GB inside a single sqlite3_step(). While a
 * statement runs, a thread of the worker process samples the process's resident memory (SQLite's heap and V8's
 * alike) and, past the limit, tells the parent on a pipe of its own and kills the process: the main thread is
 * busy inside SQLite and cannot be asked. Idle, the thread sleeps on an atomic and costs nothing.
 */
import { writeSync } from 'node:fs';
import { isMainThread, Worker, workerData } from 'node:worker_threads';

/** What the watchdog writes on its pipe before it kills the process. */
export const MEMORY_EXCEEDED = 'memory-limit-exceeded\n';
/** The worker process's stdio slot the watchdog writes to. */
export const WATCHDOG_FD = 4;
const SAMPLE_MS = 5;

interface WatchdogData {
  flag: SharedArrayBuffer;
  /** One float64: the limit in bytes (a worker reused for another database may get another limit). */
  limit: SharedArrayBuffer;
}

/** Switches the sampling on while a statement runs. */
export interface MemoryWatchdog {
  watch(on: boolean): void;
  /** Sets the limit for the statements to come (Infinity: none). */
  setLimit(bytes: number): void;
}

/** Starts the watchdog thread for a limit in bytes (main thread of the worker process). */
export function startMemoryWatchdog(limitBytes: number): MemoryWatchdog {
  const flag = new Int32Array(new SharedArrayBuffer(4));
  const limit = new Float64Array(new SharedArrayBuffer(8));
  limit[0] = limitBytes;
  const data: WatchdogData = { flag: flag.buffer as SharedArrayBuffer, limit: limit.buffer as SharedArrayBuffer };
  const thread = new Worker(new URL(import.meta.url), { workerData: data, stdout: false, stderr: false });
  thread.unref();
  return {
    watch(on) {
      Atomics.store(flag, 0, on ? 1 : 0);
      Atomics.notify(flag, 0);
    },
    setLimit(bytes) {
      // Set while no statement runs; the thread reads it after the watch(true) that follows (a seq-cst store).
      limit[0] = bytes;
    },
  };
}

// The thread: a plain synchronous loop, so it needs no event loop and nothing of the busy main thread.
if (!isMainThread) {
  const { flag, limit } = workerData as WatchdogData;
  const state = new Int32Array(flag);
  const limitBytes = new Float64Array(limit);
  for (;;) {
    Atomics.wait(state, 0, 0);
    while (Atomics.load(state, 0) === 1) {
      if (process.memoryUsage.rss() > limitBytes[0]!) {
        try {
          writeSync(WATCHDOG_FD, MEMORY_EXCEEDED);
        } finally {
          process.kill(process.pid, 'SIGKILL');
        }
      }
      Atomics.wait(state, 0, 1, SAMPLE_MS);
    }
  }
}
