import { AppError } from '@halo/contracts';

/** Immediate queries have an integrator waiting on HTTP: they go before async work. */
export type Priority = 'immediate' | 'async';

interface Waiter {
  grant(): void;
}

/**
 * A per-site concurrency limit with two FIFO queues, immediate before async. A query waits for a slot at most
 * until its queue deadline (queue_timeout) or until its signal aborts (the signal's reason).
 */
export class Slots {
  private readonly limit: number;
  private active = 0;
  private readonly waiting: Record<Priority, Waiter[]> = { immediate: [], async: [] };

  constructor(limit: number) {
    this.limit = limit;
  }

  get inFlight(): number {
    return this.active;
  }

  get queued(): number {
    return this.waiting.immediate.length + this.waiting.async.length;
  }

  /** Resolves with a release function once a slot is free. */
  acquire(priority: Priority, queueDeadline: number, signal?: AbortSignal): Promise<() => void> {
    if (signal?.aborted) return Promise.reject(abortReason(signal));
    if (this.active < this.limit && this.queued === 0) {
      this.active++;
      return Promise.resolve(this.releaser());
    }
    const queue = this.waiting[priority];
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        grant: () => {
          cleanup();
          this.active++;
          resolve(this.releaser());
        },
      };
      const drop = (err: AppError) => {
        const i = queue.indexOf(waiter);
        if (i >= 0) queue.splice(i, 1);
        cleanup();
        reject(err);
      };
      const onAbort = () => drop(abortReason(signal!));
      const timer = setTimeout(() => drop(new AppError('queue_timeout', 'no query slot came free within maxTimeInQueue')), Math.max(0, queueDeadline - Date.now()));
      const cleanup = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      queue.push(waiter);
    });
  }

  private releaser(): () => void {
    let done = false;
    return () => {
      if (done) return;
      done = true;
      this.active--;
      const next = this.waiting.immediate.shift() ?? this.waiting.async.shift();
      next?.grant();
    };
  }
}

function abortReason(signal: AbortSignal): AppError {
  return signal.reason instanceof AppError ? signal.reason : new AppError('cancelled', 'the query was cancelled');
}
