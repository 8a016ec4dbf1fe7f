// A minimal Open Dental database for the opendental profile: the `preference` and `program` tables with the
// rows the profile reads (column names and types as in Open Dental's public schema), replaced on each call.
import mysql from 'mysql2/promise';
import type { MysqlConfig } from '@halo/pms';
import { OPEN_DENTAL_PREFERENCES, OPEN_DENTAL_PROGRAM } from '@halo/pms';

export interface OpenDentalFixture {
  registrationKey: string;
  practiceTitle: string;
  version: string;
  /** Whether the Halo program link is enabled. */
  enabled: boolean;
}

/** Writes the preference and program tables into `config.database` (which must exist). */
export async function createOpenDentalFixture(config: MysqlConfig, fixture: OpenDentalFixture): Promise<void> {
  const connection = await mysql.createConnection({ host: config.host, port: config.port, user: config.user, password: config.password ?? '', database: config.database });
  try {
    await connection.query('DROP TABLE IF EXISTS preference, program');
    await connection.query(`CREATE TABLE preference (
      PrefNum BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY, PrefName VARCHAR(255) NOT NULL DEFAULT '',
      ValueString MEDIUMTEXT NOT NULL, Comments TEXT, KEY PrefName (PrefName)) DEFAULT CHARSET = utf8mb3`);
    await connection.query(`CREATE TABLE program (
      ProgramNum BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY, ProgName VARCHAR(100) DEFAULT '', ProgDesc VARCHAR(100) DEFAULT '',
      Enabled TINYINT UNSIGNED NOT NULL DEFAULT 0, Path TEXT, CommandLine TEXT, Note TEXT) DEFAULT CHARSET = utf8mb3`);
    await connection.query('INSERT INTO preference (PrefName, ValueString) VALUES ?', [[
      [OPEN_DENTAL_PREFERENCES.practiceName, fixture.practiceTitle],
      [OPEN_DENTAL_PREFERENCES.version, fixture.version],
      [OPEN_DENTAL_PREFERENCES.registrationKey, fixture.registrationKey],
      ['PracticePhone', '5035550100'],
      ['PracticeAddress', '100 Main St'],
      ['ProgramVersion', fixture.version],
    ]]);
    await connection.query('INSERT INTO program (ProgName, ProgDesc, Enabled) VALUES ?', [[
      ['Dexis', 'Dexis from www.dexis.com', 1],
      [OPEN_DENTAL_PROGRAM, 'Halo Link integrations', fixture.enabled ? 1 : 0],
    ]]);
  } finally {
    await connection.end();
  }
}
