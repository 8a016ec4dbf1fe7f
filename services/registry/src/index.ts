export * from './registry.ts';
export { AUDIT_STREAM } from './audit.ts';
export { Enrolment, ENROLMENT_BUCKETS, type EnrolmentConfig } from './enrolment.ts';
