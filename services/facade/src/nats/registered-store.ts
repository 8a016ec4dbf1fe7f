import { openRegisteredResources, publishTick, type RegisteredResources } from '@halo/async-queries';
import { AppError, REGISTERED_LIMITS, type RegisteredQueryRecord, type RegisteredQueryResult } from '@halo/contracts';
import type { NatsConnection } from '@halo/messaging';
import type { RegisteredQueryStore } from '../registered-deps.ts';
import { guardHub } from './hub-guard.ts';
import type { ConnectionState } from './connection-state.ts';

/** RegisteredQueryStore over JetStream: KV `registered_queries`, the `REGISTERED_TICKS` stream, object store `registered_results`. */
export class NatsRegisteredStore implements RegisteredQueryStore {
  readonly minFrequencySeconds: number;
  readonly #resources: RegisteredResources;
  readonly #connection: ConnectionState;

  private constructor(resources: RegisteredResources, connection: ConnectionState, minFrequencySeconds: number) {
    this.#resources = resources;
    this.#connection = connection;
    this.minFrequencySeconds = minFrequencySeconds;
  }

  static async open(options: { nc: NatsConnection; connection: ConnectionState; replicas?: number; minFrequencySeconds?: number }): Promise<NatsRegisteredStore> {
    const resources = await openRegisteredResources(options.nc, { replicas: options.replicas ?? 1 });
    return new NatsRegisteredStore(resources, options.connection, options.minFrequencySeconds ?? REGISTERED_LIMITS.defaultMinFrequencySeconds);
  }

  create(record: RegisteredQueryRecord): Promise<RegisteredQueryRecord> {
    return guardHub(this.#connection, 'registered queries are', async () => {
      const { records, js } = this.#resources;
      await records.create(record);
      try {
        await publishTick(js, { id: record.id, siteId: record.siteId, tick: 0, dueAt: record.createdAt });
        return record;
      } catch (err) {
        // Halo's name for "accepted, but it could not be scheduled": the record says so instead of vanishing.
        const failed = await records.update(record.siteId, record.id, (r) => ({ ...r, status: 'initialisationFailedCacheError', completedAt: Date.now() })).catch(() => null);
        if (!failed) throw err;
        return failed;
      }
    });
  }

  list(siteId: string): Promise<RegisteredQueryRecord[]> {
    return guardHub(this.#connection, 'registered queries are', () => this.#resources.records.listSite(siteId));
  }

  get(siteId: string, id: string): Promise<RegisteredQueryRecord | null> {
    return guardHub(this.#connection, 'registered queries are', async () => (await this.#resources.records.get(siteId, id))?.record ?? null);
  }

  cancel(siteId: string, id: string): Promise<RegisteredQueryRecord | null> {
    return guardHub(this.#connection, 'registered queries are', async () => {
      let ended: RegisteredQueryRecord | undefined;
      const written = await this.#resources.records.update(siteId, id, (r) => {
        if (r.status !== 'enabled') {
          ended = r;
          return null;
        }
        return { ...r, status: 'cancelled', completedAt: Date.now() };
      });
      if (ended) throw new AppError('query_finished', `the registered query has already ended (status ${ended.status})`);
      return written;
    });
  }

  result(id: string): Promise<RegisteredQueryResult | null> {
    return guardHub(this.#connection, 'registered queries are', () => this.#resources.results.get(id));
  }
}
