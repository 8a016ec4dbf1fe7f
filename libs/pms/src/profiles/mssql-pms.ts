// Profiles for the SQL Server PMS products whose schemas are not public (Best Practice, Zedmed, Dental4Windows).
// Each reads identity and enablement with queries the site's agent config may replace (`profileOptions`), so a
// deployment can point them at the product's real tables without a code change. The defaults use only what
// every SQL Server database has; the enablement default fails closed.
import { z } from 'zod';
import { AppError, PMS_DISPLAY_NAMES } from '@halo/contracts';
import type { Catalogue, QueryParameter } from '@halo/contracts';
import type { Connector, QueryOutput } from '../connector/connector.ts';
import type { PmsProfile, PracticeIdentity } from './profile.ts';
import { defaultCatalogue } from './default-catalogue.ts';

const PROFILE_QUERY_MS = 15_000;

/** PMS type codes served by the configurable SQL Server profile. */
export const MSSQL_PMS_TYPES = ['bp', 'zedmed', 'd4w'] as const;
export type MssqlPmsType = (typeof MSSQL_PMS_TYPES)[number];

/**
 * Default identity: the database's service_broker_guid (unique per database, stable across restarts and
 * renames, visible to a db_datareader login) as PMS ID, and no version.
 */
export const DEFAULT_IDENTITY_QUERY =
  'SELECT CONVERT(nvarchar(36), service_broker_guid) AS pms_id, CAST(NULL AS nvarchar(64)) AS pms_version FROM sys.databases WHERE name = DB_NAME()';

/** Default practice name: the database name. */
export const DEFAULT_PRACTICE_NAME_QUERY = 'SELECT DB_NAME() AS practice_name';

const Sql = z.string().trim().min(1).max(10_000);

/** `profileOptions` of a bp / zedmed / d4w database in the agent config. */
export const MssqlProfileOptions = z.object({
  /** One row: PMS ID (text or integer), then optionally the PMS version (text or NULL). */
  identityQuery: Sql.optional(),
  /** One row whose first cell is the practice name. */
  practiceNameQuery: Sql.optional(),
  /**
   * One row whose first cell is 1 / true / 'Y' when the integration is enabled in the PMS; `@integrationName`
   * is bound to the integration's name. Without it the integration counts as disabled (fail closed).
   */
  enablementQuery: Sql.optional(),
  /** Integration name bound to @integrationName when the agent names none. Default 'Halo'. */
  integrationName: z.string().min(1).max(128).optional(),
}).strict();
export type MssqlProfileOptions = z.infer<typeof MssqlProfileOptions>;

const PmsIdCell = z.union([z.string().trim().min(1).max(128), z.number().int().transform(String)]);
const VersionCell = z.union([z.string().max(64), z.number().transform(String), z.null()]).optional();
const NameCell = z.string().trim().min(1).max(256);

/** True for the PMS type codes this file serves. */
export function isMssqlPmsType(pmsType: string): pmsType is MssqlPmsType {
  return (MSSQL_PMS_TYPES as readonly string[]).includes(pmsType);
}

/** A profile for one SQL Server PMS product; options are validated here (bad_request naming the field). */
export function mssqlPmsProfile(pmsType: MssqlPmsType, rawOptions: unknown = {}): PmsProfile {
  const parsed = MssqlProfileOptions.safeParse(rawOptions ?? {});
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new AppError('bad_request', `${pmsType} profile options: ${issue?.path.join('.') || 'options'}: ${issue?.message ?? 'invalid'}`);
  }
  const options = parsed.data;
  const label = `${pmsType} profile`;

  return {
    pmsType,
    displayName: PMS_DISPLAY_NAMES[pmsType] ?? pmsType,

    async readIdentity(connector: Connector): Promise<PracticeIdentity> {
      requireMssql(connector, label);
      const identity = await read(connector, options.identityQuery ?? DEFAULT_IDENTITY_QUERY, [], label, 'practice identity');
      const row = identity.rows[0];
      if (!row) throw new AppError('query_failed', `${label}: the identity query returned no row`);
      const pmsId = PmsIdCell.safeParse(row[0]);
      const version = VersionCell.safeParse(row[1]);
      if (!pmsId.success || !version.success) throw new AppError('query_failed', `${label}: the identity row has an unexpected shape`);
      const names = await read(connector, options.practiceNameQuery ?? DEFAULT_PRACTICE_NAME_QUERY, [], label, 'practice name');
      const practiceName = NameCell.safeParse(names.rows[0]?.[0]);
      if (!practiceName.success) throw new AppError('query_failed', `${label}: the practice name query returned no name`);
      return {
        pmsId: pmsId.data,
        practiceName: practiceName.data,
        ...(version.data ? { practiceManagementVersion: version.data } : {}),
      };
    },

    async catalogues(connector: Connector): Promise<Catalogue[]> {
      requireMssql(connector, label);
      return defaultCatalogue(connector, pmsType);
    },

    async integrationEnabled(connector: Connector, integrationName?: string): Promise<boolean> {
      requireMssql(connector, label);
      if (!options.enablementQuery) return false;
      const name = integrationName ?? options.integrationName ?? 'Halo';
      const usesName = /@integrationName\b/i.test(options.enablementQuery);
      const parameters: QueryParameter[] = usesName ? [{ name: '@integrationName', direction: 'input', type: 'NVarChar', value: name }] : [];
      const result = await read(connector, options.enablementQuery, parameters, label, 'integration settings');
      return isTrue(result.rows[0]?.[0]);
    },
  };
}

function requireMssql(connector: Connector, label: string): void {
  if (connector.engine !== 'mssql') throw new AppError('bad_request', `${label}: engine ${connector.engine} is not supported (SQL Server only)`);
}

function isTrue(cell: unknown): boolean {
  if (cell === true) return true;
  if (typeof cell === 'number') return cell === 1;
  if (typeof cell === 'string') return ['1', 'true', 'y', 'yes', 'on', 'enabled'].includes(cell.trim().toLowerCase());
  return false;
}

async function read(connector: Connector, text: string, parameters: QueryParameter[], label: string, what: string): Promise<QueryOutput> {
  try {
    return await connector.query({ text, parameters, executionMode: 'reader', deadline: Date.now() + PROFILE_QUERY_MS, maxRows: 10 });
  } catch (error) {
    if (error instanceof AppError && (error.code === 'query_failed' || error.code === 'writes_disabled')) {
      throw new AppError(error.code, `${label}: cannot read the ${what} (${error.message})`, { cause: error });
    }
    throw error;
  }
}
