import { AppError } from '@halo/contracts';

/**
 * A per-site concurrency limit with a FIFO queue: a query waits for a slot at most until its own
 * queue deadline, then fails with agent_busy.
 */
export class Slots {
  private readonly limit: number;
  private active = 0;
  private readonly waiting: Array<{ grant: () => void }> = [];

  constructor(limit: number) {
    this.limit = limit;
  }

  get inFlight(): number {
    return this.active;
  }

  get queued(): number {
    return this.waiting.length;
  }

  /** Resolves with a release function once a slot is free; rejects at `queueDeadline` (epoch ms). */
  acquire(queueDeadline: number, signal?: AbortSignal): Promise<() => void> {
    const release = () => {
      this.active--;
      const next = this.waiting.shift();
      if (next) next.grant();
    };
    if (this.active < this.limit) {
      this.active++;
      return Promise.resolve(once(release));
    }
    return new Promise((resolve, reject) => {
      const entry = {
        grant: () => {
          clearTimeout(timer);
          signal?.removeEventListener('abort', onAbort);
          this.active++;
          resolve(once(release));
        },
      };
      const drop = (err: AppError) => {
        const i = this.waiting.indexOf(entry);
        if (i >= 0) this.waiting.splice(i, 1);
        signal?.removeEventListener('abort', onAbort);
        clearTimeout(timer);
        reject(err);
      };
      const onAbort = () => drop(new AppError('deadline_exceeded', 'the query was cancelled while queued'));
      const timer = setTimeout(() => drop(new AppError('agent_busy', 'no query slot came free within maxTimeInQueue')), Math.max(0, queueDeadline - Date.now()));
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiting.push(entry);
    });
  }
}

function once(fn: () => void): () => void {
  let done = false;
  return () => {
    if (done) return;
    done = true;
    fn();
  };
}
