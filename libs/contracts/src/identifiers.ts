import { z } from 'zod';

/** Link GUIDs, Halo GUIDs and query ids are lowercase UUIDs: safe as subject tokens and KV keys. */
export const Guid = z.string().regex(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/, 'must be a lowercase UUID');
export type Guid = z.infer<typeof Guid>;

export const PmsType = z.string().regex(/^[a-z][a-z0-9_]{0,31}$/, 'must be a PMS type code such as "sample"');
export type PmsType = z.infer<typeof PmsType>;

export const PmsId = z.string().min(1).max(128);
export type PmsId = z.infer<typeof PmsId>;

export const Environment = z.enum(['staging', 'production']);
export type Environment = z.infer<typeof Environment>;

/** Display names integrators may use instead of PMS type codes. */
export const PMS_DISPLAY_NAMES: Readonly<Record<string, string>> = {
  sample: 'Sample Dental',
  bp: 'Best Practice',
  zedmed: 'Zedmed',
  d4w: 'Dental4Windows',
  opendental: 'Open Dental',
};

/** Halo's `pmsType` values; sites of other types carry our code (e.g. `sample`, `opendental`). */
export const HALO_PMS_TYPES: Readonly<Record<string, string>> = { bp: 'BestPractice', zedmed: 'Zedmed', d4w: 'D4w' };

/** Halo's `practiceManagementName` values; sites of other types carry our display name. */
export const HALO_PMS_NAMES: Readonly<Record<string, string>> = { bp: 'Best Practice', zedmed: 'Zedmed', d4w: 'D4w' };

/** Accepts a PMS type code, its display name or Halo's pmsType or practiceManagementName (case-insensitive); undefined when none. */
export function resolvePmsType(nameOrCode: string): string | undefined {
  const wanted = nameOrCode.trim().toLowerCase();
  if (Object.hasOwn(PMS_DISPLAY_NAMES, wanted)) return wanted;
  for (const names of [PMS_DISPLAY_NAMES, HALO_PMS_TYPES, HALO_PMS_NAMES]) {
    for (const [code, display] of Object.entries(names)) {
      if (display.toLowerCase() === wanted) return code;
    }
  }
  return PmsType.safeParse(wanted).success ? wanted : undefined;
}
