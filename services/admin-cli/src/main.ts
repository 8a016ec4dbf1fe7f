// `halo-admin`: creates the NATS operator/JWT setup (see cli.ts). Prints public keys and file names only.
import { runAdmin } from './cli.ts';

try {
  const { created, setup, hubConfigFile } = runAdmin(process.argv.slice(2));
  const lines = [
    created ? 'created a new NATS setup' : 'kept the existing NATS setup',
    `operator        ${setup.operator.publicKey}`,
    `SYS account     ${setup.systemAccount.publicKey}`,
    `PROD account    ${setup.accounts.production.publicKey} (link signing key ${setup.accounts.production.linkSigningKey})`,
    `STAGING account ${setup.accounts.staging.publicKey} (link signing key ${setup.accounts.staging.linkSigningKey})`,
    `hub config      ${hubConfigFile}`,
    `hub CA          ${setup.tls.caFile}`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
} catch (err) {
  process.stderr.write(`halo-admin: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(2);
}
