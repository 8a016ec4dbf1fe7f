// Public entry of @halo/pms: database connectors, PMS profiles and the read-only guard.
export { openConnector } from './open-connector.ts';
export type { DatabaseConfig } from './open-connector.ts';
export type { Connector, EncodedCursor, QueryInput, QueryOutput, ResultCursor, ResultSummary } from './connector/connector.ts';
export type { SqliteConfig } from './engines/sqlite/sqlite-connector.ts';
export { openSqliteTrustedReader } from './engines/sqlite/sqlite-trusted-reader.ts';
export { SQLITE_WORKER_FLAG } from './engines/sqlite/sqlite-process.ts';
export type { PostgresConfig } from './engines/postgres/postgres-connector.ts';
export type { MysqlConfig } from './engines/mysql/mysql-connector.ts';
export { resolvePassword, tlsOptions } from './engines/server/server-config.ts';
export type { ServerConnectionConfig } from './engines/server/server-config.ts';
export type { ResourceLimits } from './connector/resource-limits.ts';
export { translatePlaceholders } from './parameters/sql-placeholders.ts';
export { bindParameters, convertParameter } from './parameters/convert-parameter.ts';
export type { BoundValue } from './parameters/convert-parameter.ts';
export { getProfile, profileTypes } from './profiles/profile-registry.ts';
export type { PmsProfile, PracticeIdentity } from './profiles/profile.ts';
export { SAMPLE_INTEGRATION } from './profiles/sample.ts';
export { OPEN_DENTAL_PREFERENCES, OPEN_DENTAL_PROGRAM, openDentalPmsId } from './profiles/open-dental.ts';
export { assertReadOnly, classifyStatement, MAX_GUARDED_TEXT } from './guard/read-only-guard.ts';
export type { ReadOnlyVerdict, SqlDialect } from './guard/read-only-guard.ts';
export { MSSQL_WRITABLE_LOGIN_WARNING, openMssqlConnector } from './engines/mssql/mssql-connector.ts';
export type { MssqlConnector } from './engines/mssql/mssql-connector.ts';
export type { MssqlConfig } from './engines/mssql/mssql-config.ts';
export { LOGIN_ACCESS_SQL as MSSQL_LOGIN_ACCESS_SQL } from './engines/mssql/mssql-login-check.ts';
export type { LoginAccess as MssqlLoginAccess } from './engines/mssql/mssql-login-check.ts';
export {
  DEFAULT_IDENTITY_QUERY as MSSQL_DEFAULT_IDENTITY_QUERY, DEFAULT_PRACTICE_NAME_QUERY as MSSQL_DEFAULT_PRACTICE_NAME_QUERY,
  MSSQL_PMS_TYPES, MssqlProfileOptions, mssqlPmsProfile,
} from './profiles/mssql-pms.ts';
