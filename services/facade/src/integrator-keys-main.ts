/**
 * `npm run keys:new [-- integratorId [pmsType,...]]`: mints a subscription key and prints it once, with the SHA-256
 * hash that goes into `keyHashes` of HALO_INTEGRATORS_FILE. The key itself is stored nowhere.
 */
import { mintSubscriptionKey } from './auth/integrator-keys.ts';

const [integratorId, pmsTypes] = process.argv.slice(2);
const { key, keyHash } = mintSubscriptionKey();
const lines = [
  `subscription key (hand to the integrator; shown only now): ${key}`,
  `sha256 (add to keyHashes in HALO_INTEGRATORS_FILE; at most two per integrator): ${keyHash}`,
];
if (integratorId !== undefined) {
  const entry = { id: integratorId, env: 'production', keyHashes: [keyHash], pmsTypes: (pmsTypes ?? 'sample').split(',').filter(Boolean) };
  lines.push(`HALO_INTEGRATORS_FILE entry: ${JSON.stringify(entry)}`);
}
process.stdout.write(`${lines.join('\n')}\n`);
