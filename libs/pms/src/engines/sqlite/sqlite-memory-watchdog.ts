/**
 * Memory cap of a SQLite worker process. better-sqlite3 builds SQLite with SQLITE_DEFAULT_MEMSTATUS=0, under which
 * `PRAGMA hard_heap_limit` is accepted but never enforced, and it has no sqlite3_limit() binding, so one
 * `SELECT length(randomblob(500000000) || randomblob(1))` allocates ~1 GB inside a single sqlite3_step(). While a
 * statement runs, a thread of the worker process samples the process's resident memory (SQLite's heap and V8's
 * alike) every SAMPLE_MS and, past the limit, tells the parent on a pipe of its own and kills the process: the main
 * thread is busy inside SQLite and cannot be asked.
 *
 * The thread keeps its SAMPLE_MS rhythm for LINGER_MS after a statement, so a busy site's statements only store a
 * flag: waking the thread for each one cost the worker two futex wakes, two thread switches and a read of /proc per
 * statement, more than a one-row SELECT itself. Quiet for LINGER_MS, it parks on an atomic and costs nothing; the
 * next statement wakes it.
 */
import { writeSync } from 'node:fs';
import { isMainThread, Worker, workerData } from 'node:worker_threads';

/** What the watchdog writes on its pipe before it kills the process. */
export const MEMORY_EXCEEDED = 'memory-limit-exceeded\n';
/** The worker process's stdio slot the watchdog writes to. */
export const WATCHDOG_FD = 4;
const SAMPLE_MS = 5;
const LINGER_MS = 1000;

/** Cells of the shared Int32Array. */
const RUNNING = 0; // 1 while a statement runs (main thread writes)
const PARKED = 1; // 1 while the thread sleeps until the next statement (thread writes)
const NAP = 2; // always 0: the thread's timed sleeps wait on it, and nothing ever wakes it

interface WatchdogData {
  state: SharedArrayBuffer;
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
  const state = new Int32Array(new SharedArrayBuffer(3 * Int32Array.BYTES_PER_ELEMENT));
  const limit = new Float64Array(new SharedArrayBuffer(8));
  limit[0] = limitBytes;
  const data: WatchdogData = { state: state.buffer as SharedArrayBuffer, limit: limit.buffer as SharedArrayBuffer };
  const thread = new Worker(new URL(import.meta.url), { workerData: data, stdout: false, stderr: false });
  thread.unref();
  return {
    watch(on) {
      Atomics.store(state, RUNNING, on ? 1 : 0);
      // Both seq-cst: a thread that parks after this load finds RUNNING already 1, and its wait returns at once.
      if (on && Atomics.load(state, PARKED) === 1) Atomics.notify(state, RUNNING);
    },
    setLimit(bytes) {
      // Set while no statement runs; the thread reads it after the watch(true) that follows (a seq-cst store).
      limit[0] = bytes;
    },
  };
}

// The thread: a plain synchronous loop, so it needs no event loop and nothing of the busy main thread.
if (!isMainThread) {
  const { state: buffer, limit } = workerData as WatchdogData;
  const state = new Int32Array(buffer);
  const limitBytes = new Float64Array(limit);
  let quietSince = Date.now();
  for (;;) {
    if (Atomics.load(state, RUNNING) === 1) {
      quietSince = Date.now();
      if (process.memoryUsage.rss() > limitBytes[0]!) {
        try {
          writeSync(WATCHDOG_FD, MEMORY_EXCEEDED);
        } finally {
          process.kill(process.pid, 'SIGKILL');
        }
      }
    } else if (Date.now() - quietSince >= LINGER_MS) {
      Atomics.store(state, PARKED, 1);
      Atomics.wait(state, RUNNING, 0);
      Atomics.store(state, PARKED, 0);
      continue; // sample at once: a statement has just started
    }
    Atomics.wait(state, NAP, 0, SAMPLE_MS);
  }
}
