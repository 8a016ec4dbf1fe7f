import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { renderNatsConfig } from '@halo/nats-server';
import { preloadOf, type SecureSetup } from './setup.ts';
import { issueCertificate } from './tls-certs.ts';

/** One hub node: the host others reach it at, and its ports. */
export interface HubNode {
  name: string;
  /** DNS name or IP the other nodes, the services and the practices dial; it is in the node's certificate. */
  host: string;
  clientPort: number;
  clusterPort: number;
  leafPort: number;
  /** The leafnode WebSocket listener (wss), for practices that may only go out over HTTPS. */
  websocketPort: number;
  monitorPort: number;
}

export interface ClusterRenderOptions {
  clusterName: string;
  nodes: readonly HubNode[];
  /** Each node's JetStream store and resolver folders go under `<dataDir>/<node name>/`. */
  dataDir: string;
  /** Address every listener binds to; default 0.0.0.0. */
  bind?: string;
  /** More names and IPs for every node's certificate (a load balancer's name in front of the leafnode ports). */
  extraTlsHosts?: readonly string[];
  /** Lame duck: clients are closed over this duration after the grace period; defaults 30s and 10s. */
  lameDuckDuration?: string;
  lameDuckGrace?: string;
  /** Client, leaf and route connections a node takes; default 65 536 (the units' LimitNOFILE is above it). */
  maxConnections?: number;
}

/** What was written for one node. */
export interface RenderedNode {
  node: HubNode;
  configFile: string;
  certFile: string;
  keyFile: string;
}

export const DEFAULT_LAME_DUCK = { duration: '30s', grace: '10s' } as const;

/** The CA key `createSecureSetup` keeps beside the CA (tls/ca-key.pem). */
function caKeyFile(setup: SecureSetup): string {
  return setup.tls.caFile.replace(/ca\.pem$/, 'ca-key.pem');
}

/**
 * Issues each node a certificate from the setup's CA (server and client usage: routes are mutual TLS), once,
 * and renders each node's config from hub-cluster.conf.tmpl into `<secrets>/nodes/<name>/hub.conf`. A node's
 * existing certificate is kept, so rendering again (new ports, a new node) does not rotate the others.
 */
export function renderClusterConfigs(setup: SecureSetup, secretsDir: string, options: ClusterRenderOptions): RenderedNode[] {
  const names = new Set(options.nodes.map((n) => n.name));
  if (names.size !== options.nodes.length) throw new Error('hub node names must be unique');
  const preload = preloadOf(setup);
  return options.nodes.map((node) => {
    const dir = join(secretsDir, 'nodes', node.name);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    let certFile = join(dir, `${node.name}-cert.pem`);
    let keyFile = join(dir, `${node.name}-key.pem`);
    if (!existsSync(certFile) || !existsSync(keyFile)) {
      const hosts = [...new Set([node.host, 'localhost', '127.0.0.1', ...(options.extraTlsHosts ?? [])])];
      ({ certFile, keyFile } = issueCertificate({ caFile: setup.tls.caFile, caKeyFile: caKeyFile(setup) }, dir, { name: node.name, hosts, clientAuth: true }));
    }
    const store = join(options.dataDir, node.name);
    const routes = options.nodes.filter((n) => n !== node).map((n) => `    "nats-route://${n.host}:${n.clusterPort}"`).join('\n');
    const bind = options.bind ?? '0.0.0.0';
    const config = renderNatsConfig('hub-cluster.conf.tmpl', {
      serverName: node.name,
      clusterName: options.clusterName,
      clientHost: bind, clientPort: node.clientPort,
      clusterHost: bind, clusterPort: node.clusterPort,
      leafHost: bind, leafPort: node.leafPort, websocketPort: node.websocketPort,
      monitorHost: bind, monitorPort: node.monitorPort,
      maxConnections: options.maxConnections ?? 65_536,
      lameDuckDuration: options.lameDuckDuration ?? DEFAULT_LAME_DUCK.duration,
      lameDuckGrace: options.lameDuckGrace ?? DEFAULT_LAME_DUCK.grace,
      certFile, keyFile, caFile: setup.tls.caFile,
      storeDir: join(store, 'jetstream'), resolverDir: join(store, 'jwt'),
      operatorJwtFile: setup.operator.jwtFile, systemAccount: setup.systemAccount.publicKey, preload,
      routes,
    });
    const configFile = join(dir, 'hub.conf');
    writeFileSync(configFile, config, { mode: 0o600 });
    return { node, configFile, certFile, keyFile };
  });
}

/** The URLs of a cluster, as services (client, TLS) and agents (leafnode TLS, or WebSocket TLS) dial them. */
export function clusterUrls(nodes: readonly HubNode[]): { client: string[]; leaf: string[]; websocket: string[]; monitor: string[] } {
  return {
    client: nodes.map((n) => `tls://${n.host}:${n.clientPort}`),
    leaf: nodes.map((n) => `nats-leaf://${n.host}:${n.leafPort}`),
    websocket: nodes.map((n) => `wss://${n.host}:${n.websocketPort}`),
    monitor: nodes.map((n) => `http://${n.host}:${n.monitorPort}`),
  };
}
