import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import {
  clusterUrls, initSecureSetup, renderClusterConfigs, renderSecureHubConfig, DEFAULT_LAME_DUCK, type HubNode, type RenderedNode, type SecureSetup,
} from '@halo/nats-auth';

export const USAGE = `usage: halo-admin init --dir <secrets dir> [--hub-name <name>] [--client-port <n>] [--leaf-port <n>]
                          [--leaf-host <host>] [--tls-host <name or IP> ...] [--if-missing]
       halo-admin init --dir <secrets dir> --nodes <n> [--node-host <host> ...] [--port-step <n>]
                          [--client-port 4222] [--cluster-port 6222] [--leaf-port 7422] [--ws-port 443]
                          [--monitor-port 8222] [--bind 0.0.0.0] [--data-dir <dir>] [--cluster-name halo]
                          [--lame-duck-duration 30s] [--lame-duck-grace 10s] [--tls-host <name or IP> ...] [--if-missing]

Creates the NATS operator (with a signing key), the SYS account and the PROD and STAGING accounts (JetStream, a
scoped signing key for Halo Link users), creds for the registry, facade and worker of each environment, SYS
users, a CA and hub certificate, and hub.conf (full account resolver, resolver_preload, leafnode TLS).
--nodes: a hub cluster instead: each node <hub-name>-<i> gets a certificate from the CA and nodes/<name>/hub.conf
(TLS on clients, routes, leafnodes and the leafnode WebSocket listener; JetStream; monitoring; lame duck), and
nodes/cluster.env holds the services' HALO_NATS_URL, HALO_NATS_CA_FILE and HALO_JS_REPLICAS. Give --node-host
once per node (or once for all); nodes on one host need --port-step (node i listens on port + i * step).
--if-missing: keep an existing setup in --dir (and existing node certificates) and only render the configs again.`;

/** What `init` wrote, for printing. */
export interface InitResult {
  created: boolean;
  setup: SecureSetup;
  /** The single hub's config (without --nodes). */
  hubConfigFile?: string;
  /** The cluster's nodes (with --nodes), and the services' environment file. */
  cluster?: { nodes: RenderedNode[]; envFile: string; urls: ReturnType<typeof clusterUrls> };
}

const DURATION = /^\d+(ms|s|m|h)$/;

/** Runs `halo-admin <args>`; returns what to print. Throws with USAGE on bad arguments. */
export function runAdmin(argv: readonly string[]): InitResult {
  const { values, positionals } = parseArgs({
    args: [...argv],
    allowPositionals: true,
    options: {
      dir: { type: 'string' },
      'hub-name': { type: 'string', default: 'halo-hub' },
      'client-port': { type: 'string', default: '4222' },
      'leaf-port': { type: 'string', default: '7422' },
      'leaf-host': { type: 'string', default: '127.0.0.1' },
      'tls-host': { type: 'string', multiple: true },
      'if-missing': { type: 'boolean', default: false },
      nodes: { type: 'string' },
      'node-host': { type: 'string', multiple: true },
      'port-step': { type: 'string', default: '0' },
      'cluster-port': { type: 'string', default: '6222' },
      'ws-port': { type: 'string', default: '443' },
      'monitor-port': { type: 'string', default: '8222' },
      bind: { type: 'string', default: '0.0.0.0' },
      'data-dir': { type: 'string' },
      'cluster-name': { type: 'string', default: 'halo' },
      'lame-duck-duration': { type: 'string', default: DEFAULT_LAME_DUCK.duration },
      'lame-duck-grace': { type: 'string', default: DEFAULT_LAME_DUCK.grace },
    },
  });
  if (positionals[0] !== 'init' || positionals.length !== 1 || !values.dir) throw new Error(USAGE);
  const dir = resolve(values.dir);
  const port = (name: string, text: string, min = -1) => {
    const n = Number(text);
    if (!Number.isInteger(n) || n < min || n > 65_535) throw new Error(`--${name} must be a port${min < 0 ? ' (or -1 for any)' : ''}`);
    return n;
  };
  const tlsHosts = values['tls-host'];
  if (values.nodes === undefined) {
    const { created, setup } = initSecureSetup(dir, { ifMissing: values['if-missing'], ...(tlsHosts ? { tlsHosts } : {}) });
    const hubDir = join(dir, 'hub');
    mkdirSync(hubDir, { recursive: true, mode: 0o700 });
    const hubConfigFile = join(hubDir, 'hub.conf');
    writeFileSync(hubConfigFile, renderSecureHubConfig(setup, {
      serverName: values['hub-name'],
      clientPort: port('client-port', values['client-port']),
      leafPort: port('leaf-port', values['leaf-port']),
      leafHost: values['leaf-host'],
      storeDir: join(hubDir, 'jetstream'),
      resolverDir: join(hubDir, 'jwt'),
    }), { mode: 0o600 });
    return { created, setup, hubConfigFile };
  }

  const count = Number(values.nodes);
  if (!Number.isInteger(count) || count < 1 || count > 9) throw new Error('--nodes must be 1 to 9 (3 for R3 JetStream)');
  const hosts = values['node-host'] ?? ['127.0.0.1'];
  if (hosts.length !== 1 && hosts.length !== count) throw new Error(`give --node-host once, or once per node (${count})`);
  const step = Number(values['port-step']);
  if (!Number.isInteger(step) || step < 0 || step > 1_000) throw new Error('--port-step must be 0 to 1000');
  if (count > 1 && step === 0 && new Set(hosts).size < count) throw new Error('nodes on one host need --port-step (each node its own ports)');
  for (const d of ['lame-duck-duration', 'lame-duck-grace'] as const) {
    if (!DURATION.test(values[d])) throw new Error(`--${d} must be a duration such as 30s`);
  }
  const base = {
    client: port('client-port', values['client-port'], 1), cluster: port('cluster-port', values['cluster-port'], 1),
    leaf: port('leaf-port', values['leaf-port'], 1), ws: port('ws-port', values['ws-port'], 1), monitor: port('monitor-port', values['monitor-port'], 1),
  };
  const shifted = (p: number, i: number) => {
    const n = p + i * step;
    if (n > 65_535) throw new Error(`port ${n} of node ${i + 1} is above 65535; lower the ports or --port-step`);
    return n;
  };
  const nodes: HubNode[] = Array.from({ length: count }, (_, i) => ({
    name: `${values['hub-name']}-${i + 1}`,
    host: hosts.length === 1 ? hosts[0]! : hosts[i]!,
    clientPort: shifted(base.client, i), clusterPort: shifted(base.cluster, i), leafPort: shifted(base.leaf, i),
    websocketPort: shifted(base.ws, i), monitorPort: shifted(base.monitor, i),
  }));
  const { created, setup } = initSecureSetup(dir, { ifMissing: values['if-missing'], ...(tlsHosts ? { tlsHosts } : {}) });
  const rendered = renderClusterConfigs(setup, dir, {
    clusterName: values['cluster-name'], nodes, dataDir: resolve(values['data-dir'] ?? join(dir, 'nodes')), bind: values.bind,
    lameDuckDuration: values['lame-duck-duration'], lameDuckGrace: values['lame-duck-grace'], ...(tlsHosts ? { extraTlsHosts: tlsHosts } : {}),
  });
  const urls = clusterUrls(nodes);
  const envFile = join(dir, 'nodes', 'cluster.env');
  // No secret in it: URLs, the CA's file name and the replica count, for every service's EnvironmentFile=.
  writeFileSync(envFile, [
    '# Rendered by halo-admin init --nodes: what every cloud service needs to reach the hub cluster.',
    `HALO_NATS_URL=${urls.client.join(',')}`,
    `HALO_NATS_CA_FILE=${setup.tls.caFile}`,
    `HALO_JS_REPLICAS=${Math.min(3, count)}`,
    '',
  ].join('\n'), { mode: 0o644 });
  return { created, setup, cluster: { nodes: rendered, envFile, urls } };
}
