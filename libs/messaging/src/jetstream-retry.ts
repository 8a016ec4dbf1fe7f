import { setTimeout as sleep } from 'node:timers/promises';
import { errors } from '@nats-io/transport-node';

/**
 * JetStream API error codes that mean "not now" during a leader election or while replicas are missing: the
 * request was refused, not applied, so sending it again is safe. Told by code, never by message text.
 */
const NOT_NOW_CODES: ReadonlySet<number> = new Set([
  10005, // no suitable peers for placement (not enough replicas up)
  10006, // JetStream cluster not active
  10008, // JetStream system temporarily unavailable (no meta leader)
  10009, // not the leader
  10023, // insufficient resources
  10074, // not assigned to a group yet
  10118, // stream offline
]);

/**
 * Whether a JetStream operation failed because the hub is between leaders (no responders, "temporarily
 * unavailable", not enough replicas, stream offline) and nothing was applied. With `timeouts`, a timeout too:
 * only for operations that are safe to apply twice (reads, puts, deletes, publishes with a message id).
 */
export function isLeaderElectionError(err: unknown, options: { timeouts?: boolean } = {}): boolean {
  if (err instanceof errors.NoRespondersError) return true;
  if (err instanceof errors.RequestError && err.isNoResponders()) return true;
  // A timeout, or the connection dropping mid-request (the client then fails over to another node): the request
  // may have been applied, so only where a second attempt is safe.
  if (options.timeouts && (err instanceof errors.TimeoutError || (err instanceof errors.RequestError && err.message === 'connection disconnected'))) return true;
  const cause = err instanceof Error ? err.cause : undefined;
  if (cause !== undefined && cause !== err && isLeaderElectionError(cause, options)) return true;
  if (typeof err !== 'object' || err === null) return false;
  const { code, status } = err as { code?: unknown; status?: unknown };
  // JetStreamApiError carries the API code; JetStreamStatusError a 503 status (no stream leader to answer).
  return (typeof code === 'number' && NOT_NOW_CODES.has(code)) || status === 503 || code === '503';
}

export interface JetStreamRetryOptions {
  /** Epoch ms after which no attempt starts; the last error is thrown then. */
  deadline: number;
  /** Retry timeouts too (operations safe to apply twice). Default false. */
  timeouts?: boolean;
  /** First backoff (ms); doubles per attempt up to maxDelayMs, each one jittered. Defaults 50 and 1000. */
  baseDelayMs?: number;
  maxDelayMs?: number;
  signal?: AbortSignal;
  /**
   * Also retry "JetStream not enabled for account" (10039): a hub node that has just started answers it while
   * it is still loading accounts. Only for opening streams and buckets at start-up: later it means what it says.
   */
  starting?: boolean;
}

/** "JetStream not enabled for account". */
const JS_NOT_ENABLED_FOR_ACCOUNT = 10039;

function isStartingError(err: unknown): boolean {
  for (let e: unknown = err; e instanceof Error; e = e.cause === e ? undefined : e.cause) {
    if ((e as { code?: unknown }).code === JS_NOT_ENABLED_FOR_ACCOUNT) return true;
  }
  return false;
}

/**
 * Runs `operation`, and again after a jittered backoff while it fails with a leader-election error and the
 * deadline allows another attempt: a request arriving during a failover waits for the new leader instead of
 * failing at once. Any other error, or the deadline, ends it with the last error.
 */
export async function retryJetStream<T>(operation: () => Promise<T>, options: JetStreamRetryOptions): Promise<T> {
  const base = options.baseDelayMs ?? 50;
  const max = options.maxDelayMs ?? 1000;
  for (let attempt = 0; ; attempt++) {
    try {
      return await operation();
    } catch (err) {
      if (!isLeaderElectionError(err, { timeouts: options.timeouts ?? false }) && !(options.starting && isStartingError(err))) throw err;
      // Full jitter: replicas retrying after the same failover do not come back in step.
      const wait = Math.random() * Math.min(max, base * 2 ** attempt);
      if (Date.now() + wait >= options.deadline || options.signal?.aborted) throw err;
      await sleep(wait, undefined, options.signal ? { signal: options.signal } : {}).catch(() => undefined);
    }
  }
}

export interface RetryingOptions {
  /** How long one call may keep retrying (ms from its start). */
  budgetMs: number;
  /** Methods not safe to apply twice (compare-and-set, create): retried on refusals only, never on timeouts. */
  unsafe?: readonly string[];
  /** Methods passed through untouched (e.g. a put that consumes a stream, watches). */
  passThrough?: readonly string[];
}

/**
 * `target` (a KV bucket, an object store, a JetStream client) with every promise-returning method run through
 * retryJetStream with a deadline of `budgetMs` from the call. A wrapper rather than a retry at each call site:
 * the stores' code stays as it reads, and no call is forgotten.
 */
export function retrying<T extends object>(target: T, options: RetryingOptions): T {
  const unsafe = new Set(options.unsafe ?? []);
  const passThrough = new Set(options.passThrough ?? []);
  return new Proxy(target, {
    get(obj, prop, receiver) {
      const value: unknown = Reflect.get(obj, prop, receiver);
      if (typeof value !== 'function' || typeof prop !== 'string' || passThrough.has(prop)) return typeof value === 'function' ? value.bind(obj) : value;
      return (...args: unknown[]) => {
        const call = () => (value as (...a: unknown[]) => unknown).apply(obj, args);
        const first = call();
        if (!(first instanceof Promise)) return first;
        let attempt = first as Promise<unknown>;
        let used = false;
        return retryJetStream(() => {
          if (!used) {
            used = true;
            return attempt;
          }
          attempt = call() as Promise<unknown>;
          return attempt;
        }, { deadline: Date.now() + options.budgetMs, timeouts: !unsafe.has(prop) });
      };
    },
  });
}
