import { AppError } from '@halo/contracts';
import { isMssqlPmsType, MSSQL_PMS_TYPES, mssqlPmsProfile } from './mssql-pms.ts';
import { openDentalProfile } from './open-dental.ts';
import type { PmsProfile } from './profile.ts';
import { sampleProfile } from './sample.ts';

// The one file that knows every profile: profiles import only profile.ts (the interface), never this.

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
