import type { Catalogue } from '@halo/contracts';
import type { Connector } from '../connector/connector.ts';

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
