import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { z } from 'zod';
import { projectRoot } from '@halo/config';
import { initSecureSetup } from '@halo/nats-auth';
import { ChildService, DEFAULT_RESTART_POLICY, describeExit, type LogLine, type RestartPolicy, type UnexpectedExit } from './child-service.ts';
import { writeDemoSummary, type DemoSite, type DemoSummary } from './demo-summary.ts';
import { facadeClient, type FacadeCall } from './facade-client.ts';
import { ensureNatsServer } from './nats-server-check.ts';
import { ensureSampleDatabases, type DemoDatabase } from './sample-practices.ts';
import { DEMO_INTEGRATOR_ID, DEMO_SUPPORT_USER_ID, loadOrCreateSubscriptionKey } from './subscription-key.ts';
import { waitForSites } from './wait-for-sites.ts';
import { pairSites } from './pair-sites.ts';

export interface DemoOptions {
  /** Everything the demo keeps: secrets, databases, hub store, agent state, logs, keys, demo.json. */
  dataDir: string;
  /** Facade port; 0 picks a free one (the real one is in facadeUrl). */
  httpPort: number;
  /** Default 127.0.0.1; the facade's certificate is for 127.0.0.1 and localhost only. */
  httpHost?: string;
  /** HALO_LOG_LEVEL of every child: info (default), debug or trace; the demo reads children's ready lines at info. */
  logLevel?: 'info' | 'debug' | 'trace';
  /** Run deploy/install/nats-server.ts once when no nats-server is found; default true. */
  installNatsServer?: boolean;
  /** Milliseconds each step may take; default 60 000. */
  stepTimeoutMs?: number;
  /** Aborting it while the demo starts stops what has started and rejects. */
  signal?: AbortSignal;
  /** Progress lines for a human; default none. */
  progress?: (message: string) => void;
  /** When a service that fails is restarted, and when it is given up; default DEFAULT_RESTART_POLICY. */
  restart?: Partial<RestartPolicy>;
  /** How long the async jobs of a dead worker wait before they are redelivered (worker HALO_ACK_WAIT_MS). */
  workerAckWaitMs?: number;
  /** A child that exits while the demo runs, and what the demo does about it; default: written to stderr. */
  onUnexpectedExit?: (exit: UnexpectedExit) => void;
}

/** A demo database and the site the agent serves it as. */
export interface DemoDatabaseSite extends DemoDatabase {
  haloGuid: string;
  linkGuid: string;
}

/** A running demo system. */
export interface RunningDemo extends DemoSummary {
  /**
   * The hub's URLs (ports picked afresh on every run); both need creds from the secrets, the leaf port TLS (caFile).
   * monitorUrl: its monitoring endpoints (/varz, /connz, /leafz), plain HTTP on loopback.
   */
  hub: { clientUrl: string; leafUrl: string; monitorUrl: string };
  /** The secrets folder (`halo-admin init`): operator, accounts, service creds, CA; `loadSecureSetup` reads it. */
  secretsDir: string;
  /** Links that enrolled during this start (a first run: every agent; later runs: none). */
  enrolled: string[];
  /** Every sample database with the Halo GUID and Link GUID serving it. */
  databases: DemoDatabaseSite[];
  /** Process id of each service by name (hub, registry, facade, agent-1, ...) now (a restart changes it). */
  readonly processes: Record<string, number>;
  /**
   * Resolves when a service failed past its start limit (`action: 'gave-up'`), once the demo has stopped every
   * other service: a demo without one of its parts is not the system it claims to be.
   */
  failed: Promise<UnexpectedExit>;
  /** Stops agents, facade, worker, registry and hub, in that order. */
  close(): Promise<void>;
}

/**
 * A small young generation: streaming services allocate short-lived row buffers fast, and V8's default lets
 * garbage reach ~100 MB of RSS before a scavenge. Deployments set the same (see README).
 */
export const SERVICE_NODE_ARGS = ['--max-semi-space-size=8'] as const;

const HubReady = z.object({ clientUrl: z.string().min(1), leafUrl: z.string().min(1), monitorUrl: z.string().url() });
/** The line every cloud service logs when its internal listener (HALO_METRICS_PORT) is up. */
const METRICS_LISTENING = 'metrics listening';
const MetricsListening = z.object({ port: z.number().int().positive() });
const FacadeReady = z.object({ url: z.string().url() });
const AgentReady = z.object({ linkGuid: z.string(), sites: z.array(z.object({ name: z.string(), haloGuid: z.string() })) });

/**
 * Runs the whole local system as a deployment would, on this machine, in operator/JWT mode: the secrets of
 * `halo-admin init` (made on the first run, kept in `<dataDir>/secrets`), a hub nats-server with the full account
 * resolver and leafnode TLS, the registry (mints link creds at enrolment, revokes), the worker, the facade over
 * HTTPS (certificate from the generated CA), each with its own creds, and two Halo Link agents (practices A and
 * B on the first; a backup of A on the second, started only after the first is ready so A's authoritative site is
 * the original). On its first run each agent enrols with a one-time token the demo asks support for; later runs
 * reuse the stored link creds. Data in `dataDir` is reused across runs.
 */
export async function startDemo(options: DemoOptions): Promise<RunningDemo> {
  const dataDir = resolve(options.dataDir);
  const progress = options.progress ?? (() => undefined);
  const timeoutMs = options.stepTimeoutMs ?? 60_000;
  const logLevel = options.logLevel ?? 'info';
  const root = projectRoot();
  const logs = join(dataDir, 'logs');
  mkdirSync(logs, { recursive: true });

  ensureNatsServer({ install: options.installNatsServer ?? true, progress });
  progress(`sample databases in ${join(dataDir, 'databases')}`);
  const databases = ensureSampleDatabases(join(dataDir, 'databases'));
  const subscriptionKey = loadOrCreateSubscriptionKey(join(dataDir, 'subscription-key'));
  // The support API's key (support user "demo-support"), kept the same way; never an integrator key.
  const supportKey = loadOrCreateSubscriptionKey(join(dataDir, 'support-key'));
  // What `npm run admin -- init --dir <dataDir>/secrets --if-missing` does: operator, accounts, service creds,
  // a CA and a certificate for localhost and 127.0.0.1 (the hub's leafnode listener and the facade).
  const secretsDir = join(dataDir, 'secrets');
  const secrets = initSecureSetup(secretsDir, { ifMissing: true });
  progress(`${secrets.created ? 'created' : 'reusing'} the NATS operator, accounts, creds and CA in ${secretsDir}`);
  const setup = secrets.setup;
  const account = setup.accounts.production;
  const caFile = setup.tls.caFile;

  const started: ChildService[] = [];
  const restart: RestartPolicy = { ...DEFAULT_RESTART_POLICY, ...options.restart };
  const report = options.onUnexpectedExit ?? ((exit: UnexpectedExit) => process.stderr.write(`demo: ${describeExit(exit, restart)}\n`));
  let gaveUp: (exit: UnexpectedExit) => void = () => undefined;
  const failed = new Promise<UnexpectedExit>((resolve) => { gaveUp = resolve; });
  const onUnexpectedExit = (exit: UnexpectedExit) => {
    report(exit);
    if (exit.action !== 'gave-up') return;
    progress(`${exit.name} is given up: stopping the demo`);
    void close().catch(() => undefined).then(() => gaveUp(exit));
  };
  // Last resort if this process exits without close(): no child may outlive the demo.
  const killAll = () => {
    for (const child of started) child.killNow();
  };
  process.on('exit', killAll);

  type Pin = (ready: LogLine) => { args?: readonly string[]; env?: NodeJS.ProcessEnv };
  const run = async (name: string, script: string, readyMsg: string, env: NodeJS.ProcessEnv, args: string[] = [], pinOnRestart?: Pin): Promise<LogLine> => {
    const child = new ChildService({
      name,
      script: join(root, script),
      args,
      nodeArgs: SERVICE_NODE_ARGS,
      cwd: root,
      env: { ...process.env, HALO_LOG_LEVEL: logLevel, ...env },
      logFile: join(logs, `${name}.log`),
      readyMsg,
      keepMsgs: [METRICS_LISTENING],
      readyTimeoutMs: timeoutMs,
      restart,
      ...(pinOnRestart ? { pinOnRestart } : {}),
      onUnexpectedExit,
      onRestarted: (back) => progress(`${back.name} is back (pid ${back.pid}, restart ${back.attempt})`),
    });
    options.signal?.throwIfAborted();
    started.push(child);
    progress(`starting ${name} (log: ${child.logFile})`);
    return abortable(child.start(), options.signal);
  };

  const close = async (): Promise<void> => {
    const errors: unknown[] = [];
    // Each child leaves `started` only once stopped: a second signal meanwhile (process exit) still kills the rest.
    for (const child of [...started].reverse()) {
      progress(`stopping ${child.name}`);
      try {
        await child.stop();
      } catch (err) {
        errors.push(err);
      }
      started.splice(started.indexOf(child), 1);
    }
    process.off('exit', killAll);
    if (errors.length > 0) throw new AggregateError(errors, 'demo shutdown failed');
  };

  // Each service's internal listener (HALO_METRICS_PORT=0 picks a port; a restart gets the same one back).
  const metricsPorts = new Map<string, number>();
  const metricsPort = (name: string): number => {
    const port = MetricsListening.parse(started.find((c) => c.name === name)?.lineOf(METRICS_LISTENING)).port;
    metricsPorts.set(name, port);
    return port;
  };
  const pinMetrics = (name: string) => ({ HALO_METRICS_PORT: String(metricsPorts.get(name) ?? 0) });

  try {
    const hubArgs = [join(dataDir, 'hub'), secretsDir, logLevel];
    // A restarted hub listens where the first start did: every service and leaf has those URLs.
    const hub = HubReady.parse(await run('hub', 'services/demo/src/hub-main.ts', 'hub ready', {}, hubArgs, (ready) => {
      const { clientUrl, leafUrl, monitorUrl } = HubReady.parse(ready);
      return { args: [...hubArgs, new URL(clientUrl).port, new URL(leafUrl).port, new URL(monitorUrl).port] };
    }));
    await run('registry', 'services/registry/src/main.ts', 'registry ready', {
      HALO_NATS_URL: hub.clientUrl,
      HALO_ENV: 'production',
      HALO_NATS_CREDS: account.creds.registry,
      // Enrolment: the registry mints each link's user JWT with the account's scoped link signing key.
      HALO_ACCOUNT_PUBLIC_KEY: account.publicKey,
      HALO_LINK_SIGNING_KEY_FILE: account.linkSigningSeedFile,
      // Revocation: account JWT updates signed with the operator signing key, pushed by a SYS user.
      HALO_SYS_CREDS: setup.sysCreds.claims,
      HALO_OPERATOR_SIGNING_KEY_FILE: setup.operator.signingSeedFile,
      HALO_METRICS_PORT: '0',
      HALO_HUB_MONITOR_URLS: hub.monitorUrl,
      // What an installed link learns at enrolment: where the hub's leafnode port is and the CA of its certificate.
      HALO_HUB_LEAF_URLS: hub.leafUrl,
      HALO_HUB_CA_FILE: caFile,
    }, [], () => ({ env: pinMetrics('registry') }));
    metricsPort('registry');
    // Async queries: the worker creates the work queue and result store (the facade would too, if first). It also
    // runs registered queries on schedule and delivers webhooks; on one machine, webhook URLs may be local ones.
    await run('worker', 'services/worker/src/main.ts', 'worker ready', {
      HALO_NATS_URL: hub.clientUrl,
      HALO_NATS_CREDS: account.creds.worker,
      HALO_WEBHOOK_ALLOW_PRIVATE: 'true',
      ...(options.workerAckWaitMs !== undefined ? { HALO_ACK_WAIT_MS: String(options.workerAckWaitMs) } : {}),
      HALO_METRICS_PORT: '0',
    }, [], () => ({ env: pinMetrics('worker') }));
    metricsPort('worker');
    const facade = FacadeReady.parse(await run('facade', 'services/facade/src/main.ts', 'facade listening', {
      HALO_NATS_URL: hub.clientUrl,
      HALO_NATS_CREDS: account.creds.facade,
      HALO_HTTP_PORT: String(options.httpPort),
      HALO_HTTP_HOST: options.httpHost ?? '127.0.0.1',
      HALO_SUBSCRIPTION_KEYS: `${DEMO_INTEGRATOR_ID}:${subscriptionKey}`,
      HALO_SUPPORT_KEYS: `${DEMO_SUPPORT_USER_ID}:${supportKey}`,
      HALO_ENROLMENT: 'true',
      HALO_WEBHOOK_ALLOW_PRIVATE: 'true',
      HALO_HTTPS_CERT_FILE: setup.tls.certFile,
      HALO_HTTPS_KEY_FILE: setup.tls.keyFile,
      HALO_METRICS_PORT: '0',
    }, [], (ready) => ({ env: { HALO_HTTP_PORT: new URL(FacadeReady.parse(ready).url).port, ...pinMetrics('facade') } })));
    metricsPort('facade');
    const call = facadeClient(facade.url, readFileSync(caFile));
    const served: DemoDatabaseSite[] = [];
    const enrolled: string[] = [];
    const agent = async (n: number, dbs: DemoDatabase[]): Promise<void> => {
      const config = join(dataDir, 'agents', `link-${n}.json`);
      const stateDir = join(dataDir, 'agents', `link-${n}`);
      // The token the stored creds were enrolled with (the agent then reuses them), or a new one from support:
      // for the link the agent was (creds deleted, e.g. after a revocation) a re-enrolment token, so it keeps its
      // Link and Halo GUIDs; with new secrets (an empty registry) a token for a new link.
      const kept = secrets.created ? undefined : enrolledToken(config, stateDir);
      const previousLink = secrets.created ? undefined : stateLinkGuid(stateDir);
      const token = kept ?? await issueEnrolmentToken(call, supportKey, previousLink, options.signal);
      if (!kept) progress(`agent-${n} enrols with a one-time token from the support API`);
      writeAgentConfig(config, { stateDir, hubLeafUrls: [hub.leafUrl], databases: dbs, enrolment: { url: facade.url, token, caFile } });
      const ready = AgentReady.parse(await run(`agent-${n}`, 'services/agent/src/main.ts', 'agent ready', { HALO_AGENT_CONFIG: config }));
      if (!kept) enrolled.push(ready.linkGuid);
      const missing = dbs.filter((db) => !ready.sites.some((site) => site.name === db.name)).map((db) => db.name);
      if (missing.length > 0) throw new Error(`agent-${n} is ready but does not serve ${missing.join(', ')}; see ${join(logs, `agent-${n}.log`)}`);
      for (const db of dbs) {
        const site = ready.sites.find((s) => s.name === db.name)!;
        served.push({ ...db, haloGuid: site.haloGuid, linkGuid: ready.linkGuid });
      }
    };
    // Agent 2 only once agent 1 has registered: the first registrant of a PMS ID becomes authoritative.
    await agent(1, [databases.practiceA, databases.practiceB]);
    await agent(2, [databases.practiceABackup]);

    progress('waiting for the facade to list every site');
    const expected = new Map([[databases.practiceA.pmsId, 2], [databases.practiceB.pmsId, 1]]);
    const sites = await waitForSites({ call, subscriptionKey, expected, timeoutMs, ...(options.signal ? { signal: options.signal } : {}) });
    progress('pairing the demo integrator with each practice through POST /integrator/pair-site');
    await pairSites(call, subscriptionKey, [...expected.keys()], options.signal);
    const summary: DemoSummary = {
      facadeUrl: facade.url,
      caFile,
      subscriptionKey,
      supportKey,
      metrics: {
        ...Object.fromEntries([...metricsPorts].map(([name, port]) => [name, `http://127.0.0.1:${port}/metrics`])),
        hub: `${hub.monitorUrl}/varz`,
      },
      sites: sites
        .map((s): DemoSite => ({
          haloGuid: s.id,
          pmsType: s.pmsType,
          pmsId: s.practiceMetadata.practiceManagementSiteId,
          practiceName: s.practiceMetadata.practiceName,
          authoritative: s.authoritative,
        }))
        .sort((a, b) => a.pmsId.localeCompare(b.pmsId) || Number(b.authoritative) - Number(a.authoritative)),
    };
    options.signal?.throwIfAborted();
    writeDemoSummary(join(dataDir, 'demo.json'), summary);
    return {
      ...summary, hub: { clientUrl: hub.clientUrl, leafUrl: hub.leafUrl, monitorUrl: hub.monitorUrl }, secretsDir, enrolled, databases: served, failed, close,
      get processes() {
        return Object.fromEntries(started.map((c) => [c.name, c.pid ?? 0]));
      },
    };
  } catch (err) {
    await close().catch(() => undefined);
    throw err;
  }
}

/** Rejects with the signal's reason as soon as it aborts; the caller then stops what `promise` was starting. */
export function abortable<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise;
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    if (signal.aborted) onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

const SupportToken = z.object({ token: z.string().min(1) });

/**
 * A one-time enrolment token for this environment, from the support API as support would issue it: for `linkGuid`
 * (re-enrolment) when the registry knows that link, otherwise for a new link.
 */
export async function issueEnrolmentToken(call: FacadeCall, supportKey: string, linkGuid: string | undefined, signal: AbortSignal | undefined): Promise<string> {
  const ask = (link: string | undefined) => call('/support/enrolment-tokens', {
    body: { ttlSeconds: 3_600, note: 'npm start', ...(link ? { linkGuid: link } : {}) },
    headers: { authorization: `Bearer ${supportKey}` },
    timeoutMs: 15_000,
    ...(signal ? { signal } : {}),
  });
  let res = await ask(linkGuid);
  if (linkGuid && res.status === 404) res = await ask(undefined);
  if (res.status !== 200) throw new Error(`the support API refused an enrolment token: HTTP ${res.status} ${JSON.stringify(res.body)}`);
  return SupportToken.parse(res.body).token;
}

const StoredAgentConfig = z.object({ enrolment: z.object({ token: z.string().min(1) }).optional() });
/** The agent's creds file in its state directory (@halo/agent CREDS_FILE). */
const LINK_CREDS = 'link.creds';

const StoredAgentState = z.object({ linkGuid: z.string() });

/** The Link GUID in the agent's state directory (@halo/agent state.json), if it has one. */
export function stateLinkGuid(stateDir: string): string | undefined {
  try {
    return StoredAgentState.parse(JSON.parse(readFileSync(join(stateDir, 'state.json'), 'utf8'))).linkGuid;
  } catch {
    return undefined;
  }
}

/** The enrolment token of the agent's config when the agent holds creds from it; else undefined (enrol anew). */
export function enrolledToken(configFile: string, stateDir: string): string | undefined {
  if (!existsSync(join(stateDir, LINK_CREDS))) return undefined;
  try {
    return StoredAgentConfig.parse(JSON.parse(readFileSync(configFile, 'utf8'))).enrolment?.token;
  } catch {
    return undefined;
  }
}

/** What the demo writes into an agent's config file. */
export interface DemoAgentConfig {
  stateDir: string;
  /** Every hub node's leafnode (or wss://) URL. */
  hubLeafUrls: string[];
  databases: DemoDatabase[];
  enrolment: { url: string; token: string; caFile: string };
}

/** Writes an agent's config file atomically, 0600 (it holds the enrolment token). */
export function writeAgentConfig(path: string, options: DemoAgentConfig): void {
  const config = {
    env: 'production',
    stateDir: options.stateDir,
    hubLeafUrls: options.hubLeafUrls,
    databases: options.databases.map((db) => ({ name: db.name, engine: 'sqlite', path: db.path, profile: 'sample' })),
    // The CA also verifies the hub's leafnode certificate (same CA): no hubCaFile needed.
    enrolment: options.enrolment,
  };
  mkdirSync(dirname(path), { recursive: true });
  const temporary = `${path}.${process.pid}.tmp`;
  // 0600: the token is a secret until it is used.
  writeFileSync(temporary, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
  renameSync(temporary, path);
}
