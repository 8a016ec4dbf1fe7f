import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createWriteStream, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { projectRoot } from '@halo/config';
import { initSecureSetup } from '@halo/nats-auth';
import { NatsServerProcess } from '@halo/nats-server';
import { ChildService, DEFAULT_RESTART_POLICY, describeExit, type RestartPolicy, type UnexpectedExit } from './child-service.ts';
import { writeDemoSummary, type DemoSite, type DemoSummary } from './demo-summary.ts';
import { facadeClient } from './facade-client.ts';
import { freePorts, freePortRun } from './free-ports.ts';
import { ensureNatsServer } from './nats-server-check.ts';
import { ensureSampleDatabases, type DemoDatabase } from './sample-practices.ts';
import { SERVICE_NODE_ARGS, abortable, enrolledToken, issueEnrolmentToken, stateLinkGuid, writeAgentConfig } from './start-demo.ts';
import { DEMO_INTEGRATOR_ID, DEMO_SUPPORT_USER_ID, loadOrCreateSubscriptionKey } from './subscription-key.ts';
import { pairSites } from './pair-sites.ts';
import { waitForSites } from './wait-for-sites.ts';

/** A process of the cluster as `<dataDir>/cluster.json` lists it. */
export interface ClusterProcess {
  role: 'hub' | 'registry' | 'facade' | 'worker' | 'haproxy' | 'agent';
  name: string;
  pid: number;
  ports: Record<string, number>;
}

export interface ClusterOptions {
  dataDir: string;
  /** The load balancer's HTTPS port; 0 picks a free one. */
  httpPort: number;
  logLevel?: 'info' | 'debug' | 'trace';
  /** Replicas of each service (default 2 each); hub nodes are always 3 (R3 JetStream). */
  replicas?: { registry?: number; facade?: number; worker?: number };
  /** Lame duck of the hub nodes (halo-admin --lame-duck-*); defaults 30s (the minimum) and 2s. */
  lameDuck?: { duration: string; grace: string };
  stepTimeoutMs?: number;
  signal?: AbortSignal;
  progress?: (message: string) => void;
  restart?: Partial<RestartPolicy>;
  /** Worker HALO_ACK_WAIT_MS: how soon a dead worker's jobs go to another. */
  workerAckWaitMs?: number;
  onUnexpectedExit?: (exit: UnexpectedExit) => void;
}

export interface RunningCluster extends DemoSummary {
  secretsDir: string;
  enrolled: string[];
  /** Every process with its current pid (a restart changes it), as cluster.json holds it. */
  processes(): ClusterProcess[];
  /** Where cluster.json is (rewritten whenever a pid changes). */
  clusterFile: string;
  close(): Promise<void>;
}

const HUB_NODES = 3;
const FacadeReady = z.object({ url: z.string().url() });
const AgentReady = z.object({ linkGuid: z.string(), sites: z.array(z.object({ name: z.string(), haloGuid: z.string() })) });

/**
 * The production topology on one machine (`npm run cluster`): the hub cluster rendered by `halo-admin init --nodes 3`
 * (TLS everywhere, operator/JWT, R3 JetStream, lame duck), run as the systemd unit runs it (`nats-server -c
 * <secrets>/nodes/<name>/hub.conf`); 2 registries, 2 workers and 2 facades with HALO_JS_REPLICAS=3 and every hub
 * node's client URL (deploy/systemd's command lines); haproxy from deploy/haproxy/haproxy.cfg in front of the
 * facades on the HTTPS port; and the demo's two agents with all three hub leaf URLs (the second over wss://).
 * Every process is supervised as the units are (restarted on failure) and dies with this one.
 */
export async function startCluster(options: ClusterOptions): Promise<RunningCluster> {
  const dataDir = resolve(options.dataDir);
  const progress = options.progress ?? (() => undefined);
  const timeoutMs = options.stepTimeoutMs ?? 90_000;
  const logLevel = options.logLevel ?? 'info';
  const root = projectRoot();
  const logs = join(dataDir, 'logs');
  mkdirSync(logs, { recursive: true });
  const count = { registry: 2, facade: 2, worker: 2, ...options.replicas };

  ensureNatsServer({ install: true, progress });
  const databases = ensureSampleDatabases(join(dataDir, 'databases'));
  const subscriptionKey = loadOrCreateSubscriptionKey(join(dataDir, 'subscription-key'));
  const supportKey = loadOrCreateSubscriptionKey(join(dataDir, 'support-key'));
  const secretsDir = join(dataDir, 'secrets');

  // Hub nodes on one host: 15 consecutive free ports, node i at base + i of each kind (halo-admin --port-step 1).
  const base = await freePortRun(5 * HUB_NODES);
  const hubPorts = { client: base, cluster: base + 3, leaf: base + 6, ws: base + 9, monitor: base + 12 };
  const lameDuck = options.lameDuck ?? { duration: '30s', grace: '2s' };
  // What an operator runs: the admin command renders every node's config and the services' environment file.
  const existed = existsSync(join(secretsDir, 'manifest.json'));
  execFileSync(process.execPath, [join(root, 'services/admin-cli/src/main.ts'), 'init', '--dir', secretsDir, '--if-missing', '--nodes', String(HUB_NODES),
    '--node-host', '127.0.0.1', '--bind', '127.0.0.1', '--port-step', '1', '--data-dir', join(dataDir, 'hub'),
    '--client-port', String(hubPorts.client), '--cluster-port', String(hubPorts.cluster), '--leaf-port', String(hubPorts.leaf),
    '--ws-port', String(hubPorts.ws), '--monitor-port', String(hubPorts.monitor),
    '--lame-duck-duration', lameDuck.duration, '--lame-duck-grace', lameDuck.grace], { stdio: ['ignore', 'ignore', 'pipe'] });
  progress(`${existed ? 'reusing' : 'created'} the NATS setup in ${secretsDir}; rendered ${HUB_NODES} hub node configs`);
  const { setup } = initSecureSetup(secretsDir, { ifMissing: true });
  const account = setup.accounts.production;
  const caFile = setup.tls.caFile;
  const env = parseEnvFile(join(secretsDir, 'nodes', 'cluster.env'));
  const nodeNames = Array.from({ length: HUB_NODES }, (_, i) => `halo-hub-${i + 1}`);
  const at = (port: number, i: number) => port + i;
  const leafUrls = nodeNames.map((_, i) => `nats-leaf://127.0.0.1:${at(hubPorts.leaf, i)}`);
  const wssUrls = nodeNames.map((_, i) => `wss://127.0.0.1:${at(hubPorts.ws, i)}`);

  const restart: RestartPolicy = { ...DEFAULT_RESTART_POLICY, ...options.restart };
  const report = options.onUnexpectedExit ?? ((exit: UnexpectedExit) => process.stderr.write(`cluster: ${describeExit(exit, restart)}\n`));
  const entries: Array<{ role: ClusterProcess['role']; name: string; ports: Record<string, number>; pid: () => number | undefined; stop: () => Promise<void>; killNow: () => void }> = [];
  const clusterFile = join(dataDir, 'cluster.json');
  let up = false;
  const processes = (): ClusterProcess[] => entries.map((e) => ({ role: e.role, name: e.name, pid: e.pid() ?? 0, ports: e.ports }));
  const writeClusterFile = () => {
    const temporary = `${clusterFile}.${process.pid}.tmp`;
    writeFileSync(temporary, `${JSON.stringify(processes(), null, 2)}\n`);
    renameSync(temporary, clusterFile);
  };
  const killAll = () => {
    for (const e of entries) e.killNow();
  };
  process.on('exit', killAll);
  const close = async (): Promise<void> => {
    const errors: unknown[] = [];
    for (const e of [...entries].reverse()) {
      progress(`stopping ${e.name}`);
      try {
        await e.stop();
      } catch (err) {
        errors.push(err);
      }
      entries.splice(entries.indexOf(e), 1);
    }
    process.off('exit', killAll);
    if (errors.length > 0) throw new AggregateError(errors, 'cluster shutdown failed');
  };

  const service = async (role: ClusterProcess['role'], name: string, script: string, readyMsg: string, childEnv: NodeJS.ProcessEnv, ports: Record<string, number>) => {
    options.signal?.throwIfAborted();
    const child = new ChildService({
      name, script: join(root, script), nodeArgs: SERVICE_NODE_ARGS, cwd: root,
      env: { ...process.env, HALO_LOG_LEVEL: logLevel, ...childEnv },
      logFile: join(logs, `${name}.log`), readyMsg, readyTimeoutMs: timeoutMs, restart,
      onUnexpectedExit: report,
      onRestarted: (back) => {
        progress(`${back.name} is back (pid ${back.pid}, restart ${back.attempt})`);
        writeClusterFile();
      },
    });
    entries.push({ role, name, ports, pid: () => child.pid, stop: () => child.stop(), killNow: () => child.killNow() });
    progress(`starting ${name} (log: ${child.logFile})`);
    return abortable(child.start(), options.signal);
  };

  try {
    // Hub nodes: `nats-server -c <secrets>/nodes/<name>/hub.conf`, restarted when they exit (the unit's Restart=always).
    await Promise.all(nodeNames.map(async (name, i) => {
      const dir = join(secretsDir, 'nodes', name);
      const server = new NatsServerProcess({
        name: 'hub', dir, config: readFileSync(join(dir, 'hub.conf'), 'utf8'), supervise: true, readyTimeoutMs: timeoutMs,
        // A restarted node has a new pid (cluster.json is first written once everything is up).
        onReady: () => {
          if (up) writeClusterFile();
        },
      });
      entries.push({
        role: 'hub', name, pid: () => server.pid, stop: () => server.close(), killNow: () => server.crash(),
        ports: { client: at(hubPorts.client, i), cluster: at(hubPorts.cluster, i), leaf: at(hubPorts.leaf, i), websocket: at(hubPorts.ws, i), monitor: at(hubPorts.monitor, i) },
      });
      progress(`starting hub node ${name}`);
      await abortable(server.start(), options.signal);
    }));
    await waitForJetStream(nodeNames.map((name, i) => ({ name, monitorUrl: `http://127.0.0.1:${at(hubPorts.monitor, i)}` })), timeoutMs);
    progress('the hub cluster has a JetStream meta leader');

    // Services: the environment the units give them (cluster.env plus each role's creds), a metrics port each.
    // On one machine webhook receivers are local, as with npm start.
    const common = { ...env, HALO_ENV: 'production', HALO_WEBHOOK_ALLOW_PRIVATE: 'true' };
    const metricsPorts = await freePorts(count.registry + count.worker + count.facade);
    const facadePorts = await freePorts(count.facade);
    const facades: string[] = [];
    for (let i = 1; i <= count.registry; i++) {
      const metrics = metricsPorts.pop()!;
      await service('registry', `registry-${i}`, 'services/registry/src/main.ts', 'registry ready', {
        ...common, HALO_NATS_CREDS: account.creds.registry, HALO_METRICS_PORT: String(metrics),
        HALO_ACCOUNT_PUBLIC_KEY: account.publicKey, HALO_LINK_SIGNING_KEY_FILE: account.linkSigningSeedFile,
        HALO_SYS_CREDS: setup.sysCreds.claims, HALO_OPERATOR_SIGNING_KEY_FILE: setup.operator.signingSeedFile,
        // What an installed link learns at enrolment, and where the leaf-connection metrics come from.
        HALO_HUB_LEAF_URLS: leafUrls.join(','), HALO_HUB_CA_FILE: caFile,
        HALO_HUB_MONITOR_URLS: nodeNames.map((_, i) => `http://127.0.0.1:${at(hubPorts.monitor, i)}`).join(','),
      }, { metrics });
    }
    for (let i = 1; i <= count.worker; i++) {
      const metrics = metricsPorts.pop()!;
      await service('worker', `worker-${i}`, 'services/worker/src/main.ts', 'worker ready', {
        ...common, HALO_NATS_CREDS: account.creds.worker, HALO_METRICS_PORT: String(metrics),
        ...(options.workerAckWaitMs !== undefined ? { HALO_ACK_WAIT_MS: String(options.workerAckWaitMs) } : {}),
      }, { metrics });
    }
    for (let i = 1; i <= count.facade; i++) {
      const metrics = metricsPorts.pop()!;
      const https = facadePorts[i - 1]!;
      const ready = FacadeReady.parse(await service('facade', `facade-${i}`, 'services/facade/src/main.ts', 'facade listening', {
        ...common, HALO_NATS_CREDS: account.creds.facade, HALO_METRICS_PORT: String(metrics),
        HALO_HTTP_PORT: String(https), HALO_HTTP_HOST: '127.0.0.1',
        HALO_SUBSCRIPTION_KEYS: `${DEMO_INTEGRATOR_ID}:${subscriptionKey}`, HALO_SUPPORT_KEYS: `${DEMO_SUPPORT_USER_ID}:${supportKey}`,
        HALO_ENROLMENT: 'true', HALO_HTTPS_CERT_FILE: setup.tls.certFile, HALO_HTTPS_KEY_FILE: setup.tls.keyFile,
      }, { https, metrics }));
      facades.push(new URL(ready.url).host);
    }

    // haproxy: deploy/haproxy/haproxy.cfg, filled from the environment as the haproxy unit's EnvironmentFile does.
    const lbPort = options.httpPort === 0 ? (await freePorts(1))[0]! : options.httpPort;
    const pem = join(dataDir, 'haproxy', 'facade.pem');
    mkdirSync(join(dataDir, 'haproxy'), { recursive: true, mode: 0o700 });
    writeFileSync(pem, `${readFileSync(setup.tls.certFile, 'utf8')}${readFileSync(setup.tls.keyFile, 'utf8')}`, { mode: 0o600 });
    const haproxy = await startHaproxy({
      config: join(root, 'deploy/haproxy/haproxy.cfg'), logFile: join(logs, 'haproxy.log'),
      env: {
        HALO_LB_BIND: `127.0.0.1:${lbPort}`, HALO_LB_CERT: pem, HALO_FACADE_CA_FILE: caFile,
        HALO_FACADE_1: facades[0]!, HALO_FACADE_2: facades[1] ?? facades[0]!,
      },
    });
    entries.push({ role: 'haproxy', name: 'haproxy', ports: { https: lbPort }, pid: () => haproxy.pid, stop: () => haproxy.stop(), killNow: () => haproxy.killNow() });
    const facadeUrl = `https://127.0.0.1:${lbPort}`;
    const call = facadeClient(facadeUrl, readFileSync(caFile));
    await waitForReady(call, timeoutMs);
    progress(`haproxy in front of the facades at ${facadeUrl}`);

    const enrolled: string[] = [];
    const agent = async (n: number, dbs: DemoDatabase[], hubLeafUrls: string[]) => {
      const config = join(dataDir, 'agents', `link-${n}.json`);
      const stateDir = join(dataDir, 'agents', `link-${n}`);
      const kept = existed ? enrolledToken(config, stateDir) : undefined;
      const token = kept ?? await issueEnrolmentToken(call, supportKey, existed ? stateLinkGuid(stateDir) : undefined, options.signal);
      writeAgentConfig(config, { stateDir, hubLeafUrls, databases: dbs, enrolment: { url: facadeUrl, token, caFile } });
      const ready = AgentReady.parse(await service('agent', `agent-${n}`, 'services/agent/src/main.ts', 'agent ready', { HALO_AGENT_CONFIG: config }, {}));
      if (!kept) enrolled.push(ready.linkGuid);
    };
    // The first registrant of a PMS ID is authoritative: agent 2 (the backup, over wss://) starts after agent 1.
    await agent(1, [databases.practiceA, databases.practiceB], leafUrls);
    await agent(2, [databases.practiceABackup], wssUrls);
    up = true;
    writeClusterFile();

    const expected = new Map([[databases.practiceA.pmsId, 2], [databases.practiceB.pmsId, 1]]);
    const sites = await waitForSites({ call, subscriptionKey, expected, timeoutMs, ...(options.signal ? { signal: options.signal } : {}) });
    // As on Halo, queries need an active pairing: the demo integrator pairs the way an integrator does.
    await pairSites(call, subscriptionKey, [...expected.keys()], options.signal);
    const summary: DemoSummary = {
      facadeUrl, caFile, subscriptionKey, supportKey,
      sites: sites.map((s): DemoSite => ({
        haloGuid: s.id, pmsType: s.pmsType, pmsId: s.practiceMetadata.practiceManagementSiteId, practiceName: s.practiceMetadata.practiceName, authoritative: s.authoritative,
      })).sort((a, b) => a.pmsId.localeCompare(b.pmsId) || Number(b.authoritative) - Number(a.authoritative)),
    };
    writeDemoSummary(join(dataDir, 'demo.json'), summary);
    return { ...summary, secretsDir, enrolled, processes, clusterFile, close };
  } catch (err) {
    await close().catch(() => undefined);
    throw err;
  }
}

/** KEY=value lines (halo-admin's cluster.env), comments skipped. */
function parseEnvFile(file: string): Record<string, string> {
  return Object.fromEntries(readFileSync(file, 'utf8').split('\n').filter((l) => /^[A-Z_]+=/.test(l)).map((l) => {
    const eq = l.indexOf('=');
    return [l.slice(0, eq), l.slice(eq + 1)];
  }));
}

const MetaCluster = z.object({ meta_cluster: z.object({ leader: z.string().optional(), replicas: z.array(z.object({ name: z.string(), current: z.boolean() })).optional() }).optional() });

/**
 * Until every node names the same JetStream meta leader, the leader sees all others current (R3 placement works)
 * and every node says healthy.
 */
async function waitForJetStream(nodes: ReadonlyArray<{ name: string; monitorUrl: string }>, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const metas = await Promise.all(nodes.map(async ({ monitorUrl }) => {
      try {
        const res = await fetch(`${monitorUrl}/jsz`, { signal: AbortSignal.timeout(2_000) });
        return MetaCluster.parse(await res.json()).meta_cluster;
      } catch {
        return undefined;
      }
    }));
    const leaders = new Set(metas.map((m) => m?.leader));
    const [leader] = leaders;
    const seen = metas[nodes.findIndex((n) => n.name === leader)]?.replicas ?? [];
    if (leaders.size === 1 && nodes.every((n) => n.name === leader || seen.some((r) => r.name === n.name && r.current))) {
      // /healthz: every stream and consumer this node holds is current (after a restart their leaders are elected anew).
      const healthy = await Promise.all(nodes.map(({ monitorUrl }) => fetch(`${monitorUrl}/healthz`, { signal: AbortSignal.timeout(2_000) }).then((r) => r.ok, () => false)));
      if (healthy.every(Boolean)) return;
    }
    if (Date.now() > until) throw new Error(`the hub cluster formed no JetStream meta group in ${timeoutMs} ms`);
    await sleep(200);
  }
}

async function waitForReady(call: ReturnType<typeof facadeClient>, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    try {
      if ((await call('/health/ready', { timeoutMs: 2_000 })).status === 200) return;
    } catch {
      // not up yet
    }
    if (Date.now() > until) throw new Error('haproxy does not answer /health/ready from a facade');
    await sleep(200);
  }
}

const SETPRIV = ['/usr/bin/setpriv', '/bin/setpriv'].find((path) => existsSync(path));

/** haproxy in the foreground (-db), dying with this process (setpriv --pdeathsig), its output in a log file. */
async function startHaproxy(options: { config: string; logFile: string; env: Record<string, string> }): Promise<{ pid: number | undefined; stop(): Promise<void>; killNow(): void }> {
  const check = ['haproxy', '-c', '-f', options.config];
  execFileSync(check[0]!, check.slice(1), { env: { ...process.env, ...options.env }, stdio: ['ignore', 'ignore', 'pipe'] });
  const command = ['haproxy', '-db', '-f', options.config];
  const [file, ...args] = SETPRIV ? [SETPRIV, '--pdeathsig', 'TERM', '--', ...command] : command;
  const log = createWriteStream(options.logFile, { flags: 'a' });
  const child: ChildProcess = spawn(file!, args, { env: { ...process.env, ...options.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.pipe(log, { end: false });
  child.stderr!.pipe(log, { end: false });
  const [host, port] = options.env.HALO_LB_BIND!.split(':');
  const until = Date.now() + 10_000;
  while (!(await accepts(host!, Number(port)))) {
    if (child.exitCode !== null) throw new Error(`haproxy exited (${child.exitCode}); see ${options.logFile}`);
    if (Date.now() > until) throw new Error(`haproxy does not listen on ${options.env.HALO_LB_BIND}; see ${options.logFile}`);
    await sleep(100);
  }
  return {
    pid: child.pid,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = once(child, 'exit');
        child.kill('SIGTERM');
        await exited;
      }
      log.end();
    },
    killNow: () => child.kill('SIGKILL'),
  };
}

function accepts(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
