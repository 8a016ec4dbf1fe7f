import { setTimeout as delay } from 'node:timers/promises';
import type { JsMsg } from '@nats-io/jetstream';
import { isAppError } from '@halo/contracts';

/** Error names only: messages of foreign errors may carry data. */
export function errName(err: unknown): string {
  return isAppError(err) ? `AppError:${err.code}` : err instanceof Error ? err.name : typeof err;
}

/**
 * Waits for a pull, or gives up when `signal` aborts (resolving null). A message the pull delivers after that is
 * handed straight back to the queue.
 */
export function abandonable(pull: Promise<JsMsg | null>, signal: AbortSignal): Promise<JsMsg | null> {
  if (signal.aborted) {
    pull.then((m) => m?.nak(), () => undefined);
    return Promise.resolve(null);
  }
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      pull.then((m) => m?.nak(), () => undefined);
      resolve(null);
    };
    signal.addEventListener('abort', onAbort, { once: true });
    pull.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

/** Waits `ms`, or less when `signal` aborts; leaves no listener on the long-lived signal either way. */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return delay(ms, undefined, { signal }).catch(() => undefined);
}
