// Open Dental keeps practice settings as rows of its `preference` table (PrefNum, PrefName, ValueString,
// Comments) and program links (bridges to other software) in `program` (ProgramNum, ProgName, Enabled, ...).
// Open Dental runs on MySQL or MariaDB.
//
// Preferences read (names as in Open Dental's public schema documentation):
//   PracticeTitle    -> practice name
//   DataBaseVersion  -> PMS version (e.g. "24.1.7.0")
//   RegistrationKey  -> PMS ID, hashed: the key is the practice's licence with Open Dental (one per customer, so
//                       backups and clones of a database share it, as authority requires), but it is a secret of
//                       the practice and must not travel to the cloud or to integrators. The PMS ID is
//                       "OD-" + the first 20 hex digits of SHA-256 over the key (upper case, dashes removed).
// Integration: the practice enables a program link named "Halo" (Setup > Program Links), i.e. a `program` row
// with ProgName = 'Halo' and Enabled = 1.
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { AppError, PMS_DISPLAY_NAMES } from '@halo/contracts';
import type { Catalogue, QueryParameter } from '@halo/contracts';
import type { Connector, QueryOutput } from '../connector/connector.ts';
import type { PmsProfile, PracticeIdentity } from './profile.ts';
import { defaultCatalogue } from './default-catalogue.ts';

const PROFILE_QUERY_MS = 15_000;

/** The preference rows the profile reads. */
export const OPEN_DENTAL_PREFERENCES = { practiceName: 'PracticeTitle', version: 'DataBaseVersion', registrationKey: 'RegistrationKey' } as const;

/** The program link a practice enables to allow the integration. */
export const OPEN_DENTAL_PROGRAM = 'Halo';

const PreferenceRow = z.tuple([z.string().max(255), z.union([z.string(), z.number().transform(String)]).nullable()]);
const EnabledRow = z.tuple([z.union([z.number(), z.string()])]);

/** The PMS ID for an Open Dental registration key: not the key itself, which is a secret of the practice. */
export function openDentalPmsId(registrationKey: string): string {
  const normalised = registrationKey.trim().toUpperCase().replace(/-/g, '');
  return `OD-${createHash('sha256').update(normalised).digest('hex').slice(0, 20).toUpperCase()}`;
}

/** Open Dental (MySQL/MariaDB). */
export const openDentalProfile: PmsProfile = {
  pmsType: 'opendental',
  displayName: PMS_DISPLAY_NAMES.opendental ?? 'Open Dental',

  async readIdentity(connector: Connector): Promise<PracticeIdentity> {
    const names = Object.values(OPEN_DENTAL_PREFERENCES);
    const result = await read(
      connector,
      'SELECT PrefName, ValueString FROM preference WHERE PrefName IN (@a, @b, @c)',
      names.map((value, index) => ({ name: `@${'abc'[index]}`, direction: 'input', type: 'VarChar', value })),
      'practice preferences',
    );
    const values = new Map<string, string>();
    for (const row of result.rows) {
      const parsed = PreferenceRow.safeParse(row);
      if (!parsed.success) throw new AppError('query_failed', 'opendental profile: a preference row has an unexpected shape');
      const [name, value] = parsed.data;
      if (value !== null) values.set(name, value.trim());
    }
    const key = values.get(OPEN_DENTAL_PREFERENCES.registrationKey);
    if (!key) throw new AppError('query_failed', 'opendental profile: the RegistrationKey preference is missing or empty');
    const practiceName = values.get(OPEN_DENTAL_PREFERENCES.practiceName) ?? '';
    const version = values.get(OPEN_DENTAL_PREFERENCES.version);
    return { pmsId: openDentalPmsId(key), practiceName: practiceName.slice(0, 256), ...(version ? { practiceManagementVersion: version.slice(0, 64) } : {}) };
  },

  async catalogues(connector: Connector): Promise<Catalogue[]> {
    return defaultCatalogue(connector, 'opendental');
  },

  async integrationEnabled(connector: Connector, integrationName = OPEN_DENTAL_PROGRAM): Promise<boolean> {
    const result = await read(
      connector,
      'SELECT Enabled FROM program WHERE ProgName = @name ORDER BY ProgramNum LIMIT 1',
      [{ name: '@name', direction: 'input', type: 'VarChar', value: integrationName }],
      'program links',
    );
    const row = result.rows[0];
    if (!row) return false;
    const parsed = EnabledRow.safeParse(row);
    if (!parsed.success) throw new AppError('query_failed', 'opendental profile: the program row has an unexpected shape');
    return Number(parsed.data[0]) === 1;
  },
};

async function read(connector: Connector, text: string, parameters: QueryParameter[], what: string): Promise<QueryOutput> {
  try {
    return await connector.query({ text, parameters, executionMode: 'reader', deadline: Date.now() + PROFILE_QUERY_MS, maxRows: 100 });
  } catch (error) {
    if (error instanceof AppError && error.code === 'query_failed') {
      throw new AppError('query_failed', `opendental profile: cannot read the ${what} (${error.message})`, { cause: error });
    }
    throw error;
  }
}
