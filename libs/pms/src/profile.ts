import { AppError } from '@halo/contracts';
import type { Catalogue } from '@halo/contracts';
import type { Connector } from './connector.ts';
import { openDentalProfile } from './profiles/open-dental.ts';
import { isMssqlPmsType, MSSQL_PMS_TYPES, mssqlPmsProfile } from './profiles/mssql-pms.ts';
import { sampleProfile } from './profiles/sample.ts';

/** Who the practice is, as its PMS database says. */
export interface PracticeIdentity {
  pmsId: string;
  practiceName: string;
  practiceManagementVersion?: string;
}

/** How to read identity and settings from one PMS product's database. */
export interface PmsProfile {
  /** PMS type code, e.g. 'sample'. */
  readonly pmsType: string;
  /** Name integrators know the product by, e.g. 'Sample Dental'. */
  readonly displayName: string;
  /** Reads the PMS ID, practice name and version; AppError('query_failed') if the database lacks them. */
  readIdentity(connector: Connector): Promise<PracticeIdentity>;
  /** The catalogues (databases/schemas) integrators may address. */
  catalogues(connector: Connector): Promise<Catalogue[]>;
  /** Pairing codes the PMS currently issues for the integration (integrators pair a site with one); optional. */
  pairingCodes?(connector: Connector): Promise<string[]>;
  /** Whether the practice has enabled the integration in the PMS itself. */
  integrationEnabled(connector: Connector, integrationName?: string): Promise<boolean>;
}

const PROFILES: ReadonlyMap<string, PmsProfile> = new Map([sampleProfile, openDentalProfile].map((profile) => [profile.pmsType, profile]));

/**
 * The profile for a PMS type code; AppError('bad_request') if there is none. `options` are the database's
 * `profileOptions` from the agent config, read by the configurable SQL Server profiles (bp, zedmed, d4w).
 */
export function getProfile(pmsType: string, options?: unknown): PmsProfile {
  if (isMssqlPmsType(pmsType)) return mssqlPmsProfile(pmsType, options);
  const profile = PROFILES.get(pmsType);
  if (!profile) throw new AppError('bad_request', `no PMS profile for type "${pmsType.slice(0, 32)}"`);
  return profile;
}

/** PMS type codes that have a profile. */
export function profileTypes(): string[] {
  return [...PROFILES.keys(), ...MSSQL_PMS_TYPES];
}
