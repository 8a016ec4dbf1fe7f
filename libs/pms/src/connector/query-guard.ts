import { AppError } from '@halo/contracts';
import { cancelError } from './cursor-errors.ts';

// setTimeout delays above 2^31-1 ms fire at once, so far deadlines are waited for in steps.
const MAX_TIMER_MS = 2_147_483_647;

/** Rejects when the deadline passes or the signal aborts, whichever comes first. */
export interface QueryGuard {
  /** Never resolves; rejects with the reason the query must stop. Already handled, so safe to leave unawaited. */
  readonly stopped: Promise<never>;
  dispose(): void;
}

/** Watches one query's deadline (epoch ms) and abort signal. */
export function guardQuery(deadline: number, signal: AbortSignal | undefined): QueryGuard {
  const { promise, reject } = Promise.withResolvers<never>();
  promise.catch(() => {});
  let timer: NodeJS.Timeout | undefined;
  const onAbort = () => reject(abortReason(signal));
  const arm = () => {
    const remaining = deadline - Date.now();
    if (remaining <= 0) {
      reject(new AppError('deadline_exceeded', 'the query deadline passed'));
      return;
    }
    timer = setTimeout(arm, Math.min(remaining, MAX_TIMER_MS));
  };
  if (signal?.aborted) onAbort();
  else {
    signal?.addEventListener('abort', onAbort, { once: true });
    arm();
  }
  return {
    stopped: promise,
    dispose() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    },
  };
}

/** A cancelled query rethrows the signal's AppError reason, or else reports itself as cancelled. */
function abortReason(signal: AbortSignal | undefined): AppError {
  return cancelError(signal?.reason);
}
