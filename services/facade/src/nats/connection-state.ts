import { AppError } from '@halo/contracts';
import type { NatsConnection } from '@halo/messaging';
import type { Status } from '@nats-io/transport-node';

/** What a NATS connection is doing now. */
export type ConnectionStatus = 'connected' | 'disconnected' | 'reconnecting' | 'draining' | 'closed';

/** The state of a NATS connection, tracked from its status events (the client has no synchronous getter). */
export interface ConnectionState {
  status(): ConnectionStatus;
  /**
   * Throws AppError('service_unavailable') unless connected. While the client reconnects it holds requests until
   * their timeout; a caller that checks first answers 503 at once instead.
   */
  assertConnected(what: string): void;
  /** Stops tracking (status() then answers from the connection's own closed/draining flags only). */
  close(): void;
}

/** Starts tracking `nc` (assumed connected now), until close() or the connection ends. */
export function connectionState(nc: NatsConnection): ConnectionState {
  let current: 'connected' | 'disconnected' | 'reconnecting' = 'connected';
  // nats.js returns a QueuedIterator, whose stop() ends it at once (return() would wait for the next event).
  const events = nc.status() as AsyncIterable<Status> & { stop?: () => void };
  void (async () => {
    for await (const s of events) {
      if (s.type === 'disconnect') current = 'disconnected';
      else if (s.type === 'reconnecting') current = 'reconnecting';
      else if (s.type === 'reconnect') current = 'connected';
    }
  })().catch(() => undefined);
  const status = (): ConnectionStatus => (nc.isClosed() ? 'closed' : nc.isDraining() ? 'draining' : current);
  return {
    status,
    assertConnected(what) {
      if (status() !== 'connected') throw new AppError('service_unavailable', `${what} unavailable: the hub cannot be reached; retry shortly`);
    },
    close() {
      events.stop?.();
    },
  };
}
