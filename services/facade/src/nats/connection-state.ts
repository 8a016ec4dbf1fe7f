import { AppError } from '@halo/contracts';
import type { NatsConnection } from '@halo/messaging';

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
}

/** Starts tracking `nc` (assumed connected now); the tracking ends with the connection. */
export function connectionState(nc: NatsConnection): ConnectionState {
  let current: 'connected' | 'disconnected' | 'reconnecting' = 'connected';
  void (async () => {
    for await (const s of nc.status()) {
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
  };
}
