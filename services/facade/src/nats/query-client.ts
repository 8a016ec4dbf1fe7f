import type { SiteView } from '@halo/contracts';
import { ReplyRouter, type NatsConnection, type ResultStream } from '@halo/messaging';
import type { Logger } from '@halo/log';
import type { QueryClient, QueryExecution } from '../deps.ts';
import type { ConnectionState } from './connection-state.ts';

/** How long a query nobody answers is sent again: a leaf reconnects to another hub node within about 2 s. */
const OFFLINE_RETRY_MS = 5_000;
/** A read the agent has not acknowledged (first keep-alive FIRST_KEEPALIVE_MS after arrival) within this is sent again. */
const UNANSWERED_READ_MS = 2_000;

/** Requester ids are subject tokens the hub permissions can pin, so only letters and digits. */
const REQUESTER_ID = /^[A-Za-z0-9]{8,64}$/;

export interface NatsQueryClientOptions {
  nc: NatsConnection;
  /** Per-process random token; chunks come back on `halo.v1.r.<link>.<requesterId>.<queryId>`. */
  requesterId: string;
  log: Logger;
  /** No chunk for this long once streaming (with credit granted) = the agent is gone. */
  stallMs?: number;
  /** The connection's tracked state: while the hub is unreachable a query answers 503 at once, not at its deadline. */
  connection?: ConnectionState;
}

/**
 * QueryClient over the chunk protocol (ARCHITECTURE §4): one reply subscription for the whole process, credit
 * granted only as the HTTP side consumes rows, so a slow integrator slows its own agent and nothing else.
 */
export class NatsQueryClient implements QueryClient {
  readonly #router: ReplyRouter;
  readonly #stallMs: number | undefined;
  readonly #connection: ConnectionState | undefined;

  constructor(options: NatsQueryClientOptions) {
    if (!REQUESTER_ID.test(options.requesterId)) throw new TypeError('requesterId must be 8-64 letters or digits');
    this.#router = new ReplyRouter({ nc: options.nc, requesterId: options.requesterId, log: options.log });
    this.#stallMs = options.stallMs;
    this.#connection = options.connection;
  }

  /**
   * Publishes the query to the site's agent; the stream ends at the deadline, on abort or on the agent's error. While
   * nobody answers (no responders: the site's leaf is reconnecting to another hub node, e.g. after a node's lame duck
   * or death) the query is sent again, for at most OFFLINE_RETRY_MS and within its time in queue; then `site_offline`.
   * The stream stays routed between sends, so an answer to a send the hub wrongly called unanswered is still taken.
   */
  start(site: SiteView, request: QueryExecution, signal: AbortSignal): ResultStream {
    this.#connection?.assertConnected('queries are');
    return this.#router.start({ linkGuid: site.linkGuid }, {
      queryId: request.queryId,
      haloGuid: site.haloGuid,
      mode: 'immediate',
      ...(request.catalogue !== undefined ? { catalogue: request.catalogue } : {}),
      command: request.command,
      deadline: request.deadline,
      maxTimeInQueueMs: request.maxTimeInQueueMs,
    }, {
      signal,
      rowFormat: request.rowFormat,
      resendOfflineUntil: Date.now() + Math.min(OFFLINE_RETRY_MS, request.maxTimeInQueueMs),
      // A write never runs twice; a read lost with its hub node (or its answer) is sent again.
      ...(request.command.executionMode === 'reader' ? { resendUnansweredMs: UNANSWERED_READ_MS } : {}),
      ...(this.#stallMs !== undefined ? { stallMs: this.#stallMs } : {}),
    });
  }

  close(): Promise<void> {
    return this.#router.close();
  }
}
