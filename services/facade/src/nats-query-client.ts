import { AppError, QueryHeaders, QueryResult, isAppError, subjects, type QueryRequest, type SiteView } from '@halo/contracts';
import { headers, requestJson, type NatsConnection } from '@halo/messaging';
import type { QueryClient, QueryExecution } from './deps.ts';

/** Requester ids are subject tokens the hub permissions can pin, so only letters and digits. */
const REQUESTER_ID = /^[A-Za-z0-9]{8,64}$/;

export interface NatsQueryClientOptions {
  nc: NatsConnection;
  /** Per-process random token; replies come back on `halo.v1.r.<link>.<requesterId>.<queryId>`. */
  requesterId: string;
  now?: () => number;
}

/**
 * QueryClient over NATS request-reply (ARCHITECTURE §4, single-message results for now). The agent answers on
 * an explicit reply subject, since replies to `_INBOX` cannot cross a permission-restricted leaf.
 */
export class NatsQueryClient implements QueryClient {
  readonly #nc: NatsConnection;
  readonly #requesterId: string;
  readonly #now: () => number;

  constructor(options: NatsQueryClientOptions) {
    if (!REQUESTER_ID.test(options.requesterId)) throw new TypeError('requesterId must be 8-64 letters or digits');
    this.#nc = options.nc;
    this.#requesterId = options.requesterId;
    this.#now = options.now ?? Date.now;
  }

  /** Publishes the query to the site's agent and waits for its result until the deadline or the abort. */
  async execute(site: SiteView, request: QueryExecution, signal: AbortSignal): Promise<QueryResult> {
    signal.throwIfAborted();
    const timeoutMs = request.deadline - this.#now();
    if (timeoutMs <= 0) throw new AppError('deadline_exceeded', 'the deadline passed before the query was sent');
    const payload: QueryRequest = {
      queryId: request.queryId,
      haloGuid: site.haloGuid,
      mode: 'immediate',
      ...(request.catalogue !== undefined ? { catalogue: request.catalogue } : {}),
      command: request.command,
      deadline: request.deadline,
      maxTimeInQueueMs: request.maxTimeInQueueMs,
    };
    const h = headers();
    h.set(QueryHeaders.queryId, request.queryId);
    h.set(QueryHeaders.deadline, String(request.deadline));
    const reply = requestJson(this.#nc, subjects.query(site.linkGuid, site.haloGuid), payload, QueryResult, {
      timeoutMs,
      noResponders: 'site_offline',
      reply: subjects.reply(site.linkGuid, this.#requesterId, request.queryId),
      headers: h,
    }).catch((err: unknown) => {
      throw integratorFacing(err);
    });
    return untilAborted(reply, signal);
  }
}

/** Transport errors name subjects (link GUIDs); integrators get plain messages with the same codes. */
function integratorFacing(err: unknown): unknown {
  if (!isAppError(err) || err.cause === undefined) return err; // the agent's own coded error: pass it on
  if (err.code === 'site_offline') return new AppError('site_offline', 'the site is offline', { cause: err });
  if (err.code === 'deadline_exceeded') return new AppError('deadline_exceeded', 'the site did not answer before the deadline', { cause: err });
  // A reply that fails its schema is the agent's fault, not the integrator's bad request.
  if (err.code === 'bad_request') return new AppError('internal', 'the site sent a malformed answer', { cause: err });
  return err;
}

/**
 * Stops waiting when the signal fires. The NATS request itself lives on until its own timeout (the reply
 * subject is unique, so a late answer is dropped); a later issue also sends `cancel` on the ack subject.
 */
function untilAborted<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      (value) => { signal.removeEventListener('abort', onAbort); resolve(value); },
      (err: unknown) => { signal.removeEventListener('abort', onAbort); reject(err); },
    );
  });
}
