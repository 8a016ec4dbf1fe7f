import { AppError } from '@halo/contracts';
import type { NatsConnection } from '@halo/messaging';
import type { Status } from '@nats-io/transport-node';

/** What a NATS connection is doing now. */
export type ConnectionStatus = 'connected' | 'disconnected' | 'reconnecting' | 'draining' | 'closed';

/** The state of a NATS connection, tracked from its status events (the client has no synchronous getter). */
export interface ConnectionState {
  status(): ConnectionStatus;
  /**
   * Throws AppError('service_unavailable') once the connection has been down for longer than RECONNECT_GRACE_MS.
   * While the client reconnects it holds requests until their timeout; a caller that checks first answers 503 at
   * once instead. Within the grace (a move to another hub node, e.g. when a node goes lame duck, takes well under a
   * second) the request goes on: the client buffers what it publishes and resubscribes before sending it.
   */
  assertConnected(what: string): void;
  /** Stops tracking (status() then answers from the connection's own closed/draining flags only). */
  close(): void;
}

/** How long a lost connection still takes requests (see ConnectionState.assertConnected). */
export const RECONNECT_GRACE_MS = 3_000;

/** Starts tracking `nc` (assumed connected now), until close() or the connection ends. */
export function connectionState(nc: NatsConnection): ConnectionState {
  let current: 'connected' | 'disconnected' | 'reconnecting' = 'connected';
  let downSince = 0;
  // nats.js returns a QueuedIterator, whose stop() ends it at once (return() would wait for the next event).
  const events = nc.status() as AsyncIterable<Status> & { stop?: () => void };
  void (async () => {
    for await (const s of events) {
      if (s.type === 'disconnect') {
        if (current === 'connected') downSince = Date.now();
        current = 'disconnected';
      } else if (s.type === 'reconnecting') current = 'reconnecting';
      else if (s.type === 'reconnect') current = 'connected';
    }
  })().catch(() => undefined);
  const status = (): ConnectionStatus => (nc.isClosed() ? 'closed' : nc.isDraining() ? 'draining' : current);
  return {
    status,
    assertConnected(what) {
      const state = status();
      const moving = (state === 'disconnected' || state === 'reconnecting') && Date.now() - downSince < RECONNECT_GRACE_MS;
      if (state !== 'connected' && !moving) throw new AppError('service_unavailable', `${what} unavailable: the hub cannot be reached; retry shortly`);
    },
    close() {
      events.stop?.();
    },
  };
}
