import { z } from 'zod';
import { subjects } from '@halo/contracts';
import { decodeJson, encodeJson, type NatsConnection, type Subscription } from '@halo/messaging';
import type { Logger } from '@halo/log';

const CancelRequest = z.object({ integratorId: z.string(), siteId: z.string() });

/** How long a DELETE waits for another replica to say it runs the query. */
const REMOTE_CANCEL_TIMEOUT_MS = 500;

interface Running {
  integratorId: string;
  siteId: string;
  cancel(): void;
}

/**
 * The immediate queries this facade replica is running, so `DELETE .../queries/{id}` can stop one whichever
 * replica the DELETE lands on: the local one cancels directly; others ask over NATS, and only the replica that
 * runs the query answers.
 */
export class ImmediateQueries {
  readonly #running = new Map<string, Running>();
  readonly #nc: NatsConnection;
  readonly #sub: Subscription;

  constructor(nc: NatsConnection, log: Logger) {
    this.#nc = nc;
    this.#sub = nc.subscribe(subjects.cancelImmediateAll(), {
      callback: (err, msg) => {
        if (err || !msg.reply) return;
        try {
          const queryId = msg.subject.slice(msg.subject.lastIndexOf('.') + 1);
          const { integratorId, siteId } = decodeJson(CancelRequest, msg.data);
          if (this.#cancelLocal(queryId, integratorId, siteId)) msg.respond(encodeJson({ cancelled: true }));
        } catch (e) {
          log.warn({ err: e instanceof Error ? e.name : 'unknown' }, 'bad immediate cancel request');
        }
      },
    });
  }

  /** Registers a running query; call the returned function when it ends. */
  track(queryId: string, running: Running): () => void {
    this.#running.set(queryId, running);
    return () => {
      if (this.#running.get(queryId) === running) this.#running.delete(queryId);
    };
  }

  /** Cancels the integrator's running immediate query on whichever replica runs it; false if none does. */
  async cancel(queryId: string, integratorId: string, siteId: string): Promise<boolean> {
    if (this.#cancelLocal(queryId, integratorId, siteId)) return true;
    try {
      await this.#nc.request(subjects.cancelImmediate(queryId), encodeJson({ integratorId, siteId }), { timeout: REMOTE_CANCEL_TIMEOUT_MS });
      return true;
    } catch {
      return false;
    }
  }

  #cancelLocal(queryId: string, integratorId: string, siteId: string): boolean {
    const running = this.#running.get(queryId);
    // Someone else's query is "not found", exactly like an unknown id.
    if (!running || running.integratorId !== integratorId || running.siteId !== siteId) return false;
    running.cancel();
    return true;
  }

  async close(): Promise<void> {
    if (!this.#nc.isClosed()) await this.#sub.drain();
  }
}
