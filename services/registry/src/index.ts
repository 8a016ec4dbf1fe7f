export * from './registry.ts';
export { availabilityOf, hasClockDrift, DEFAULT_THRESHOLDS, MAX_CLOCK_DRIFT_MS, ONLINE_WITHIN_MS, UNREACHABLE_AFTER_MS, type Thresholds } from './availability.ts';
export { practiceKey, practiceToken, BUCKETS, RegistryStore } from './store.ts';
export { RegistryViews } from './views.ts';
export { AUDIT_STREAM } from './audit.ts';
export { Enrolment, ENROLMENT_BUCKETS, type EnrolmentConfig } from './enrolment.ts';
