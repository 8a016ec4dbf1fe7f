import type { RegisteredQueryRecord, RegisteredQueryResult, SupportWebhookSet, SupportWebhookView } from '@halo/contracts';

/** The facade's side of registered queries: records, their first tick, cancel, and the last result (JetStream). */
export interface RegisteredQueryStore {
  /** The operator's minimum frequency (seconds); Halo's is 60. */
  readonly minFrequencySeconds: number;
  /** Writes the record and schedules tick 0; a record whose tick could not be queued ends initialisationFailedCacheError. */
  create(record: RegisteredQueryRecord): Promise<RegisteredQueryRecord>;
  /** Every registered query of a site (the caller filters by integrator). */
  list(siteId: string): Promise<RegisteredQueryRecord[]>;
  get(siteId: string, id: string): Promise<RegisteredQueryRecord | null>;
  /** Marks an enabled registered query cancelled (no tick runs after); AppError('query_finished') if it had ended. */
  cancel(siteId: string, id: string): Promise<RegisteredQueryRecord | null>;
  /** The last result, or null before the first successful run. */
  result(id: string): Promise<RegisteredQueryResult | null>;
}

/** Support's view of webhooks: one URL per integrator in this environment. */
export interface WebhookAdmin {
  /** Checks and stores the URL with a new signing secret, which only this answer shows. */
  set(integratorId: string, url: string, by: string): Promise<SupportWebhookSet>;
  get(integratorId: string): Promise<SupportWebhookView | null>;
  /** False when the integrator had no webhook. */
  delete(integratorId: string): Promise<boolean>;
}
