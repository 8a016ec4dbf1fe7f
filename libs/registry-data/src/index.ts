// Public entry of @halo/registry-data: the registry's JetStream KV data (bucket names, keys, records) and how it
// is read (RegistryViews, availability). The registry service writes it; the facade reads it directly while no
// registry replica answers.
export { availabilityOf, hasClockDrift, DEFAULT_THRESHOLDS, MAX_CLOCK_DRIFT_MS, ONLINE_WITHIN_MS, UNREACHABLE_AFTER_MS, type Thresholds } from './availability.ts';
export { pairingKey, practiceKey, practiceToken, parsePracticeKey, BUCKETS, REGISTRY_RETRY_BUDGET_MS, RegistryStore } from './store.ts';
export { RegistryViews } from './views.ts';
export { RegistryClient, requestRegistry } from './registry-client.ts';
export { assertQueryable } from './queryable-site.ts';
