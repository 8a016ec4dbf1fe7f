// `halo-admin`: creates the NATS operator/JWT setup (see cli.ts). Prints public keys and file names only.
import { runAdmin } from './cli.ts';

try {
  const { created, setup, hubConfigFile, cluster } = runAdmin(process.argv.slice(2));
  const lines = [
    created ? 'created a new NATS setup' : 'kept the existing NATS setup',
    `operator        ${setup.operator.publicKey}`,
    `SYS account     ${setup.systemAccount.publicKey}`,
    `PROD account    ${setup.accounts.production.publicKey} (link signing key ${setup.accounts.production.linkSigningKey})`,
    `STAGING account ${setup.accounts.staging.publicKey} (link signing key ${setup.accounts.staging.linkSigningKey})`,
    ...(hubConfigFile ? [`hub config      ${hubConfigFile}`] : []),
    ...(cluster ? [
      ...cluster.nodes.map((n) => `node config     ${n.configFile} (${n.node.host}: client ${n.node.clientPort}, routes ${n.node.clusterPort}, leaf ${n.node.leafPort}, wss ${n.node.websocketPort}, monitor ${n.node.monitorPort})`),
      `services' env   ${cluster.envFile}`,
      `agents' leaf URLs      ${cluster.urls.leaf.join(' ')}`,
      `agents' wss leaf URLs  ${cluster.urls.websocket.join(' ')}`,
    ] : []),
    `hub CA          ${setup.tls.caFile}`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
} catch (err) {
  process.stderr.write(`halo-admin: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(2);
}
