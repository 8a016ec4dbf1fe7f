import type { Connector } from './connector/connector.ts';
import { openMssqlConnector } from './engines/mssql/mssql-connector.ts';
import type { MssqlConfig } from './engines/mssql/mssql-config.ts';
import { openMysqlConnector, type MysqlConfig } from './engines/mysql/mysql-connector.ts';
import { openPostgresConnector, type PostgresConfig } from './engines/postgres/postgres-connector.ts';
import { openSqliteConnector, type SqliteConfig } from './engines/sqlite/sqlite-connector.ts';

// The one file that knows every engine: the connector interface and the engines never import it.

/** How to reach one PMS database. */
export type DatabaseConfig = SqliteConfig | PostgresConfig | MysqlConfig | MssqlConfig;

/** Opens a connector for the configured engine; fails fast if the database cannot be opened. */
export function openConnector(config: DatabaseConfig): Promise<Connector> {
  switch (config.engine) {
    case 'sqlite':
      return openSqliteConnector(config);
    case 'postgres':
      return openPostgresConnector(config);
    case 'mysql':
      return openMysqlConnector(config);
    case 'mssql':
      return openMssqlConnector(config);
  }
}
