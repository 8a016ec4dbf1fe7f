import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { z } from 'zod';
import { projectRoot } from '@halo/messaging';
import { ChildService, type LogLine, type UnexpectedExit } from './child-service.ts';
import { writeDemoSummary, type DemoSite, type DemoSummary } from './demo-summary.ts';
import { ensureNatsServer } from './nats-server-check.ts';
import { ensureSampleDatabases, type DemoDatabase } from './sample-practices.ts';
import { DEMO_INTEGRATOR_ID, DEMO_SUPPORT_USER_ID, loadOrCreateSubscriptionKey } from './subscription-key.ts';
import { waitForSites } from './wait-for-sites.ts';

export interface DemoOptions {
  /** Everything the demo keeps: databases, hub store, agent state, logs, key, demo.json. */
  dataDir: string;
  /** Facade port; 0 picks a free one (the real one is in facadeUrl). */
  httpPort: number;
  /** Default 127.0.0.1. */
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
  /** A child that exits while the demo runs; default: written to stderr. */
  onUnexpectedExit?: (exit: UnexpectedExit) => void;
}

/** A demo database and the site the agent serves it as. */
export interface DemoDatabaseSite extends DemoDatabase {
  haloGuid: string;
  linkGuid: string;
}

/** A running demo system. */
export interface RunningDemo extends DemoSummary {
  /** The hub's URLs (ports picked afresh on every run). */
  hub: { clientUrl: string; leafUrl: string };
  /** Every sample database with the Halo GUID and Link GUID serving it. */
  databases: DemoDatabaseSite[];
  /** Process id of each service by name (hub, registry, facade, agent-1, ...), for measurements. */
  processes: Record<string, number>;
  /** Stops agents, facade, worker, registry and hub, in that order. */
  close(): Promise<void>;
}

/**
 * A small young generation: streaming services allocate short-lived row buffers fast, and V8's default lets
 * garbage reach ~100 MB of RSS before a scavenge. Deployments set the same (see README).
 */
export const SERVICE_NODE_ARGS = ['--max-semi-space-size=8'] as const;

const HubReady = z.object({ clientUrl: z.string().min(1), leafUrl: z.string().min(1) });
const FacadeReady = z.object({ url: z.string().url() });
const AgentReady = z.object({ linkGuid: z.string(), sites: z.array(z.object({ name: z.string(), haloGuid: z.string() })) });

/**
 * Runs the whole local system as a deployment would, on this machine: a hub nats-server, the registry, the
 * facade and two Halo Link agents (practices A and B on the first; a backup of A on the second, started only
 * after the first is ready so A's authoritative site is the original). Data in `dataDir` is reused across runs.
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

  const started: ChildService[] = [];
  const onUnexpectedExit = options.onUnexpectedExit ?? ((exit: UnexpectedExit) => {
    process.stderr.write(`demo: ${exit.name} exited unexpectedly (${exit.code ?? exit.signal}); see ${exit.logFile}\n`);
  });
  // Last resort if this process exits without close(): no child may outlive the demo.
  const killAll = () => {
    for (const child of started) child.killNow();
  };
  process.on('exit', killAll);

  const run = async (name: string, script: string, readyMsg: string, env: NodeJS.ProcessEnv, args: string[] = []): Promise<LogLine> => {
    const child = new ChildService({
      name,
      script: join(root, script),
      args,
      nodeArgs: SERVICE_NODE_ARGS,
      cwd: root,
      env: { ...process.env, HALO_LOG_LEVEL: logLevel, ...env },
      logFile: join(logs, `${name}.log`),
      readyMsg,
      readyTimeoutMs: timeoutMs,
      onUnexpectedExit,
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

  try {
    const hub = HubReady.parse(await run('hub', 'services/demo/src/hub-main.ts', 'hub ready', {}, [join(dataDir, 'hub'), logLevel]));
    await run('registry', 'services/registry/src/main.ts', 'registry ready', { HALO_NATS_URL: hub.clientUrl, HALO_ENV: 'production' });
    // Async queries: the worker creates the work queue and result store (the facade would too, if first).
    await run('worker', 'services/worker/src/main.ts', 'worker ready', { HALO_NATS_URL: hub.clientUrl });
    const facade = FacadeReady.parse(await run('facade', 'services/facade/src/main.ts', 'facade listening', {
      HALO_NATS_URL: hub.clientUrl,
      HALO_HTTP_PORT: String(options.httpPort),
      HALO_HTTP_HOST: options.httpHost ?? '127.0.0.1',
      HALO_SUBSCRIPTION_KEYS: `${DEMO_INTEGRATOR_ID}:${subscriptionKey}`,
      HALO_SUPPORT_KEYS: `${DEMO_SUPPORT_USER_ID}:${supportKey}`,
    }));
    const served: DemoDatabaseSite[] = [];
    const agent = async (n: number, dbs: DemoDatabase[]): Promise<void> => {
      const config = join(dataDir, 'agents', `link-${n}.json`);
      writeAgentConfig(config, { stateDir: join(dataDir, 'agents', `link-${n}`), hubLeafUrl: hub.leafUrl, databases: dbs });
      const ready = AgentReady.parse(await run(`agent-${n}`, 'services/agent/src/main.ts', 'agent ready', { HALO_AGENT_CONFIG: config }));
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
    const sites = await waitForSites({ facadeUrl: facade.url, subscriptionKey, expected, timeoutMs, ...(options.signal ? { signal: options.signal } : {}) });
    const summary: DemoSummary = {
      facadeUrl: facade.url,
      subscriptionKey,
      supportKey,
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
    const processes = Object.fromEntries(started.map((c) => [c.name, c.pid ?? 0]));
    return { ...summary, hub: { clientUrl: hub.clientUrl, leafUrl: hub.leafUrl }, databases: served, processes, close };
  } catch (err) {
    await close().catch(() => undefined);
    throw err;
  }
}

/** Rejects with the signal's reason as soon as it aborts; the caller then stops what `promise` was starting. */
function abortable<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise;
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    if (signal.aborted) onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

function writeAgentConfig(path: string, options: { stateDir: string; hubLeafUrl: string; databases: DemoDatabase[] }): void {
  const config = {
    env: 'production',
    stateDir: options.stateDir,
    hubLeafUrls: [options.hubLeafUrl],
    databases: options.databases.map((db) => ({ name: db.name, engine: 'sqlite', path: db.path, profile: 'sample' })),
  };
  mkdirSync(dirname(path), { recursive: true });
  const temporary = `${path}.${process.pid}.tmp`;
  writeFileSync(temporary, `${JSON.stringify(config, null, 2)}\n`);
  renameSync(temporary, path);
}
