import type { NatsConnection, Status } from '@nats-io/transport-node';

/** Readiness of a service that needs its NATS connection, tracked from the connection's status events. */
export interface NatsReadiness {
  /** Null while connected, else why not (for `/health/ready`). */
  reason(): string | null;
  /** Stops tracking. */
  stop(): void;
}

/**
 * Tracks `nc` (connected when called: call it once the service's JetStream resources are open, so "ready" means
 * both). The client has no synchronous state getter, so disconnects and reconnects are followed as events.
 */
export function natsReadiness(nc: NatsConnection): NatsReadiness {
  let down: string | null = null;
  // nats.js returns a QueuedIterator, whose stop() ends it at once (return() would wait for the next event).
  const events = nc.status() as AsyncIterable<Status> & { stop?: () => void };
  void (async () => {
    for await (const s of events) {
      if (s.type === 'disconnect' || s.type === 'reconnecting') down = `NATS is ${s.type === 'disconnect' ? 'disconnected' : 'reconnecting'}`;
      else if (s.type === 'reconnect') down = null;
    }
  })().catch(() => undefined);
  return {
    reason: () => (nc.isClosed() ? 'NATS is closed' : nc.isDraining() ? 'NATS is draining' : down),
    stop: () => events.stop?.(),
  };
}
