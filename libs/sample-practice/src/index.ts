// Public entry of @halo/sample-practice: generated sample practice databases (SQLite files, PostgreSQL and
// MariaDB databases) for the demo, tests and benchmarks. The agent never ships it.
export { createSampleDatabase } from './sample-database.ts';
export type { SampleDatabaseOptions } from './sample-database.ts';
export { createSampleServerDatabase, dropSampleServerDatabase } from './sample-server-database.ts';
export {
  APPOINTMENT_STATUS, GENDER, PATIENT_STATUS, SAMPLE_DEFAULT_PATIENTS, SAMPLE_INDEXES, SAMPLE_INTEGRATION, samplePairingCode,
  SAMPLE_PMS_VERSION, SAMPLE_REFERENCE_DATE, SAMPLE_TABLES,
} from './sample-schema.ts';
