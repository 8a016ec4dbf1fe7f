// Public entry of @halo/pms: database connectors, PMS profiles and sample practice databases.
export { openConnector } from './connector.ts';
export type {
  Connector, DatabaseConfig, QueryInput, QueryOutput, ResultCursor, ResultSummary, SqliteConfig,
} from './connector.ts';
export { bindParameters, convertParameter } from './parameters.ts';
export type { BoundValue } from './parameters.ts';
export { getProfile, profileTypes } from './profile.ts';
export type { PmsProfile, PracticeIdentity } from './profile.ts';
export { createSampleDatabase } from './sample-database.ts';
export type { SampleDatabaseOptions } from './sample-database.ts';
export {
  APPOINTMENT_STATUS, GENDER, PATIENT_STATUS, SAMPLE_DEFAULT_PATIENTS, SAMPLE_INDEXES, SAMPLE_INTEGRATION,
  SAMPLE_PMS_VERSION, SAMPLE_REFERENCE_DATE, SAMPLE_TABLES,
} from './sample-schema.ts';
