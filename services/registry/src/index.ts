export * from './registry.ts';
export { availabilityOf, ONLINE_WITHIN_MS, UNREACHABLE_AFTER_MS } from './availability.ts';
export { practiceKey, BUCKETS } from './store.ts';
