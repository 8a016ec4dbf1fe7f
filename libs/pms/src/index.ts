// Public entry of @halo/pms: database connectors, PMS profiles and sample practice databases.
export { openConnector } from './connector.ts';
export type {
  Connector, DatabaseConfig, QueryInput, QueryOutput, ResultCursor, ResultSummary, SqliteConfig,
} from './connector.ts';
export type { MysqlConfig, PostgresConfig } from './connector.ts';
export type { ResourceLimits } from './resource-limits.ts';
export type { ServerConnectionConfig } from './server-config.ts';
export { translatePlaceholders } from './sql-placeholders.ts';
export { bindParameters, convertParameter } from './parameters.ts';
export type { BoundValue } from './parameters.ts';
export { getProfile, profileTypes } from './profile.ts';
export type { PmsProfile, PracticeIdentity } from './profile.ts';
export { OPEN_DENTAL_PREFERENCES, OPEN_DENTAL_PROGRAM, openDentalPmsId } from './profiles/open-dental.ts';
export { createSampleDatabase } from './sample-database.ts';
export { createSampleServerDatabase, dropSampleServerDatabase } from './sample-server-database.ts';
export type { SampleDatabaseOptions } from './sample-database.ts';
export {
  APPOINTMENT_STATUS, GENDER, PATIENT_STATUS, SAMPLE_DEFAULT_PATIENTS, SAMPLE_INDEXES, SAMPLE_INTEGRATION, samplePairingCode,
  SAMPLE_PMS_VERSION, SAMPLE_REFERENCE_DATE, SAMPLE_TABLES,
} from './sample-schema.ts';
export { assertReadOnly, classifyStatement, MAX_GUARDED_TEXT } from './read-only-guard.ts';
export type { ReadOnlyVerdict, SqlDialect } from './read-only-guard.ts';
export { MSSQL_WRITABLE_LOGIN_WARNING, openMssqlConnector } from './mssql-connector.ts';
export type { MssqlConnector } from './mssql-connector.ts';
export type { MssqlConfig } from './mssql-config.ts';
export { LOGIN_ACCESS_SQL as MSSQL_LOGIN_ACCESS_SQL } from './mssql-login-check.ts';
export type { LoginAccess as MssqlLoginAccess } from './mssql-login-check.ts';
export {
  DEFAULT_IDENTITY_QUERY as MSSQL_DEFAULT_IDENTITY_QUERY, DEFAULT_PRACTICE_NAME_QUERY as MSSQL_DEFAULT_PRACTICE_NAME_QUERY,
  MSSQL_PMS_TYPES, MssqlProfileOptions, mssqlPmsProfile,
} from './profiles/mssql-pms.ts';
