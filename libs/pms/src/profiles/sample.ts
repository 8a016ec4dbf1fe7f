import { z } from 'zod';
import { AppError, PMS_DISPLAY_NAMES } from '@halo/contracts';
import type { Catalogue, QueryParameter } from '@halo/contracts';
import type { Connector, QueryOutput } from '../connector/connector.ts';
import type { PmsProfile, PracticeIdentity } from './profile.ts';
import { defaultCatalogue } from './default-catalogue.ts';

/** Name of the integration row the sample profile checks; the sample-practice generator enables it. */
export const SAMPLE_INTEGRATION = 'halo';

// Profile reads are small and run at startup or on heartbeat; a stuck database must not stall them.
const PROFILE_QUERY_MS = 15_000;

const IdentityRow = z.tuple([
  z.union([z.string().min(1).max(128), z.number().int().transform(String)]),
  z.string().max(256),
  z.string().max(64).nullable(),
]);

const EnabledRow = z.tuple([z.union([z.number(), z.string()])]);

/** The sample PMS: SQLite databases made by createSampleDatabase. */
export const sampleProfile: PmsProfile = {
  pmsType: 'sample',
  displayName: PMS_DISPLAY_NAMES.sample ?? 'Sample Dental',

  async readIdentity(connector: Connector): Promise<PracticeIdentity> {
    const result = await read(connector, identityQuery(connector.engine), [], 'practice identity');
    const row = result.rows[0];
    if (!row) throw new AppError('query_failed', 'sample profile: the practice table has no row');
    const parsed = IdentityRow.safeParse(row);
    if (!parsed.success) throw new AppError('query_failed', 'sample profile: the practice row has an unexpected shape');
    const [pmsId, practiceName, version] = parsed.data;
    return { pmsId, practiceName, ...(version ? { practiceManagementVersion: version } : {}) };
  },

  async catalogues(connector: Connector): Promise<Catalogue[]> {
    return defaultCatalogue(connector, 'sample');
  },

  async pairingCodes(connector: Connector): Promise<string[]> {
    const result = await read(
      connector,
      'SELECT PairingCode FROM integration WHERE Name = @name AND Enabled = 1 AND PairingCode IS NOT NULL',
      [{ name: '@name', direction: 'input', type: 'NVarChar', value: SAMPLE_INTEGRATION }],
      'pairing codes',
    );
    return result.rows.map((row) => row[0]).filter((code): code is string => typeof code === 'string' && code.length > 0);
  },

  async integrationEnabled(connector: Connector, integrationName = SAMPLE_INTEGRATION): Promise<boolean> {
    const result = await read(
      connector,
      'SELECT Enabled FROM integration WHERE Name = @name',
      [{ name: '@name', direction: 'input', type: 'NVarChar', value: integrationName }],
      'integration settings',
    );
    const row = result.rows[0];
    if (!row) return false;
    const parsed = EnabledRow.safeParse(row);
    if (!parsed.success) throw new AppError('query_failed', 'sample profile: the integration row has an unexpected shape');
    return Number(parsed.data[0]) === 1;
  },
};

/** The practice row; the sample schema is the same on every engine (see sample-server-database.ts). */
function identityQuery(engine: Connector['engine']): string {
  switch (engine) {
    case 'sqlite':
      return 'SELECT PmsId, PracticeName, PmsVersion FROM practice ORDER BY rowid LIMIT 1';
    case 'mssql':
      return 'SELECT TOP 1 PmsId, PracticeName, PmsVersion FROM practice ORDER BY PmsId';
    case 'postgres':
    case 'mysql':
      return 'SELECT PmsId, PracticeName, PmsVersion FROM practice ORDER BY PmsId LIMIT 1';
  }
}

async function read(connector: Connector, text: string, parameters: QueryParameter[], what: string): Promise<QueryOutput> {
  try {
    return await connector.query({ text, parameters, executionMode: 'reader', deadline: Date.now() + PROFILE_QUERY_MS, maxRows: 10 });
  } catch (error) {
    if (error instanceof AppError && error.code === 'query_failed') {
      throw new AppError('query_failed', `sample profile: cannot read the ${what} (${error.message})`, { cause: error });
    }
    throw error;
  }
}
