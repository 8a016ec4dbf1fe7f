import type { Msg, NatsConnection, Subscription } from '@nats-io/transport-node';
import { AckMessage, AppError, subjects } from '@halo/contracts';
import type { Logger } from '@halo/log';
import { decodeJson } from './json-codec.ts';
import { atDeadline, MAX_TIMER_MS, type DeadlineTimer } from './deadline-timer.ts';

/** The requester's credits and cancel for one query, as the agent's sender sees them. */
export interface AckChannel {
  /** Highest sequence number the requester has acknowledged (0 until the first credit). */
  readonly credit: number;
  /** Aborted when the requester cancels (or the router closes); its reason is an AppError. */
  readonly cancelled: AbortSignal;
  /** Resolves when credit >= seq; rejects on cancel, on no new credit for stallMs, or at the deadline (epoch ms). */
  waitForCredit(seq: number, until: { stallMs: number; deadline: number }): Promise<void>;
  /** Stops routing acks to this channel; a pending wait rejects. Idempotent. */
  close(): void;
}

export interface AckRouterOptions {
  nc: NatsConnection;
  linkGuid: string;
  log: Logger;
}

/** How long, and how many, cancels for queries not (yet) open are remembered: a cancel may overtake open(). */
const EARLY_CANCEL_MS = 5 * 60_000;
const EARLY_CANCEL_MAX = 10_000;

/**
 * One per agent connection: subscribes once to `halo.v1.ack.<link>.>` (a wildcard set up at start, so acks are
 * never lost to interest propagating over the leaf) and routes credits and cancels to open queries by query id.
 */
export class AckRouter {
  readonly #log: Logger;
  readonly #sub: Subscription;
  readonly #channels = new Map<string, Channel>();
  /** queryId -> when the remembered cancel expires. */
  readonly #earlyCancels = new Map<string, number>();
  #closed = false;

  constructor(opts: AckRouterOptions) {
    this.#log = opts.log;
    this.#sub = opts.nc.subscribe(subjects.ackAll(opts.linkGuid), {
      callback: (err, msg) => {
        if (err) this.#log.error({ err }, 'ack subscription failed');
        else this.#route(msg);
      },
    });
  }

  /** Whether acks are routed for `queryId` now: its query is being answered here. */
  isOpen(queryId: string): boolean {
    return this.#channels.has(queryId);
  }

  /** Starts routing acks for a query. Open it as soon as the request arrives, so a cancel while queued is seen. */
  open(queryId: string): AckChannel {
    if (this.#closed) throw new AppError('site_offline', 'agent is shutting down');
    if (this.#channels.has(queryId)) throw new AppError('bad_request', 'duplicate query id');
    const channel = new Channel(() => this.#channels.delete(queryId));
    this.#channels.set(queryId, channel);
    const expires = this.#earlyCancels.get(queryId);
    if (expires !== undefined) {
      this.#earlyCancels.delete(queryId);
      if (expires > Date.now()) channel.cancel();
    }
    return channel;
  }

  /** Unsubscribes; open channels are cancelled with AppError('site_offline') so their senders stop. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const channel of [...this.#channels.values()]) channel.cancel(new AppError('site_offline', 'agent is shutting down'));
    this.#channels.clear();
    this.#earlyCancels.clear();
    try {
      this.#sub.unsubscribe();
    } catch (err) {
      this.#log.debug({ err }, 'ack unsubscribe failed');
    }
  }

  #route(msg: Msg): void {
    // halo.v1.ack.<link>.<query>
    const queryId = msg.subject.split('.')[4];
    if (queryId === undefined) return;
    let ack: AckMessage;
    try {
      ack = decodeJson(AckMessage, msg.data);
    } catch {
      this.#log.warn({ queryId }, 'malformed ack dropped');
      return;
    }
    const channel = this.#channels.get(queryId);
    if ('cancel' in ack) {
      if (channel) channel.cancel();
      else this.#rememberCancel(queryId);
    } else if (channel) {
      channel.grant(ack.credit);
    }
  }

  #rememberCancel(queryId: string): void {
    const now = Date.now();
    if (this.#earlyCancels.size >= EARLY_CANCEL_MAX) {
      for (const [id, expires] of this.#earlyCancels) {
        if (expires <= now || this.#earlyCancels.size >= EARLY_CANCEL_MAX) this.#earlyCancels.delete(id);
        else break;
      }
    }
    this.#earlyCancels.set(queryId, now + EARLY_CANCEL_MS);
  }
}

interface Waiter {
  seq: number;
  resolve: () => void;
  reject: (err: AppError) => void;
  stallMs: number;
  stall: NodeJS.Timeout | undefined;
  deadline: DeadlineTimer | undefined;
}

class Channel implements AckChannel {
  readonly #onClose: () => void;
  readonly #cancel = new AbortController();
  #credit = 0;
  #waiter: Waiter | undefined;
  #closed = false;

  constructor(onClose: () => void) {
    this.#onClose = onClose;
  }

  get credit(): number {
    return this.#credit;
  }

  get cancelled(): AbortSignal {
    return this.#cancel.signal;
  }

  waitForCredit(seq: number, until: { stallMs: number; deadline: number }): Promise<void> {
    if (this.#cancel.signal.aborted) return Promise.reject(this.#cancel.signal.reason as AppError);
    if (this.#closed) return Promise.reject(new AppError('internal', 'ack channel closed'));
    if (this.#credit >= seq) return Promise.resolve();
    const left = until.deadline - Date.now();
    if (left <= 0) return Promise.reject(deadlinePassed());
    if (this.#waiter) return Promise.reject(new AppError('internal', 'concurrent waits for credit'));
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = { seq, resolve, reject, stallMs: until.stallMs, stall: undefined, deadline: undefined };
      waiter.deadline = atDeadline(until.deadline, () => this.#settle(deadlinePassed()));
      this.#waiter = waiter;
      this.#armStall(waiter);
    });
  }

  /** A credit from the requester: credits only grow; any progress restarts the stall timer. */
  grant(credit: number): void {
    if (credit <= this.#credit) return;
    this.#credit = credit;
    const waiter = this.#waiter;
    if (!waiter) return;
    if (credit >= waiter.seq) this.#settle();
    else this.#armStall(waiter);
  }

  cancel(reason: AppError = new AppError('cancelled', 'cancelled by the requester')): void {
    if (this.#cancel.signal.aborted) return;
    this.#cancel.abort(reason);
    this.#settle(reason);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    // Most channels close with no wait pending: an AppError (and its stack trace) only when one is.
    if (this.#waiter) this.#settle(new AppError('internal', 'ack channel closed'));
    this.#onClose();
  }

  #armStall(waiter: Waiter): void {
    clearTimeout(waiter.stall);
    waiter.stall = setTimeout(
      () => this.#settle(new AppError('deadline_exceeded', `requester granted no credit for ${waiter.stallMs} ms`)),
      Math.min(Math.max(waiter.stallMs, 0), MAX_TIMER_MS),
    );
  }

  #settle(err?: AppError): void {
    const waiter = this.#waiter;
    if (!waiter) return;
    this.#waiter = undefined;
    clearTimeout(waiter.stall);
    waiter.deadline?.clear();
    if (err) waiter.reject(err);
    else waiter.resolve();
  }
}

function deadlinePassed(): AppError {
  return new AppError('deadline_exceeded', 'query deadline passed');
}
