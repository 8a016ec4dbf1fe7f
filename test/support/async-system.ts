import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { AppError, Heartbeat, QueryRequest, RegisterResult, subjects, type RegisterRequest } from '@halo/contracts';
import { createLogger, type Logger } from '@halo/log';
import { AckRouter, ChunkSender, connectNats, decodeJson, readRequestOptions, requestJson, type Msg, type NatsConnection, type Subscription } from '@halo/messaging';
import { getProfile, openConnector } from '@halo/pms';
import { createSampleDatabase } from '@halo/sample-practice';
import { launchHub, launchLeaf, type RunningHub, type RunningServer } from '@halo/testkit';
import { startRegistry } from '@halo/registry';
import { startFacade, type RunningFacade, type StartFacadeOptions } from '@halo/facade';
import { startWorker, type RunningWorker, type WorkerDeps } from '@halo/worker';
import { AgentConfig, startAgent as startRealAgent } from '@halo/agent';
import { SUBSCRIPTION_KEY } from './system.ts';
import { spawnAgentProcess, type ProcessAgent } from './agent-process.ts';

export type { ProcessAgent } from './agent-process.ts';

export { eventually, SUBSCRIPTION_KEY } from './system.ts';

/** A second integrator's key: it must never see the first one's queries. */
export const OTHER_KEY = 'other-key-0123456789abcdefghijklmnopqrstuvwxyz';

/**
 * Whether tests run the real agent (it streams with the chunk protocol). When false they run a small stand-in
 * built from ChunkSender/AckRouter over the same sample SQLite databases, registered with the real registry over a
 * real leaf, which also counts the queries it receives.
 */
export const REAL_AGENT_STREAMS = true;

export interface AsyncSystemOptions {
  logLevel?: 'silent' | 'info' | 'debug' | 'trace';
  /** Where every component's log lines go (default stdout). */
  logDestination?: { write(line: string): void };
  /** Result TTL of facade and worker. Default 60 s. */
  resultTtlMs?: number;
  /** Worker options (defaults suited to tests: ack wait 2 s, retries at most 300 ms apart). */
  worker?: Partial<Omit<WorkerDeps, 'nc' | 'log'>>;
  /** Start a worker at once (default true). */
  startWorker?: boolean;
  /** The facade's site cache TTL. Default 500 ms. */
  cacheTtlMs?: number;
  /** More facade options (support keys, registered queries, webhooks). */
  facade?: Partial<Pick<StartFacadeOptions, 'supportKeys' | 'registered' | 'webhooks'>>;
}

/** A running test agent (real or chunk fixture). */
export interface TestAgent {
  linkGuid: string;
  sites: ReadonlyArray<{ name: string; haloGuid: string }>;
  /** Queries this agent has received (chunk fixture only). */
  served?: () => number;
  /** Queries running or queued at this agent (the real agent's next heartbeat says). */
  activeQueries(): Promise<number>;
  close(): Promise<void>;
}

export interface AsyncTestSystem {
  readonly dir: string;
  readonly hub: RunningHub;
  readonly log: Logger;
  /** The current facade (replaced by restartFacade). */
  facade(): RunningFacade;
  restartFacade(): Promise<void>;
  /** Starts a worker (on its own connection); at most one at a time here. */
  startWorker(): Promise<void>;
  /** Stops the worker: gracefully (running queries handed back) or as a crash (connection dropped, no acks). */
  stopWorker(how: 'graceful' | 'crash'): Promise<void>;
  sampleDatabase(name: string, pmsId: string, patients?: number): string;
  /** Starts an agent serving `databases`; the same `name` again gets the same Link and Halo GUIDs. */
  /** Entries with an `engine` are passed to the agent's config as they are (any engine); others are sample SQLite files. */
  startAgent(name: string, databases: Array<{ name: string; path: string } | { name: string; engine: string; [key: string]: unknown }>): Promise<TestAgent>;
  /**
   * Starts the real agent as its own process (`services/agent/src/main.ts`), so a test can freeze (SIGSTOP) or
   * kill (SIGKILL) it; the same `name` again gets the same Link and Halo GUIDs.
   */
  startAgentProcess(name: string, databases: Array<{ name: string; path: string; allowWrites?: boolean }>): Promise<ProcessAgent>;
  call(path: string, init?: RequestInit & { key?: string | null }): Promise<Response>;
  close(): Promise<void>;
}


export async function startAsyncTestSystem(options: AsyncSystemOptions = {}): Promise<AsyncTestSystem> {
  const log = createLogger({ name: 'async-test', level: options.logLevel ?? 'silent', ...(options.logDestination ? { destination: options.logDestination } : {}) });
  const dir = mkdtempSync(join(tmpdir(), 'halo-async-'));
  const resultTtlMs = options.resultTtlMs ?? 60_000;
  const closers: Array<() => Promise<unknown>> = [];
  let facade: RunningFacade | undefined;
  let worker: { running: RunningWorker; nc: NatsConnection } | undefined;
  const agents = new Set<TestAgent | ProcessAgent>();
  const identities = new Map<string, { linkGuid: string; sites: Map<string, string> }>();

  const close = async () => {
    await Promise.all([...agents].map((a) => a.close().catch(() => undefined)));
    if (worker) await stopWorker('graceful').catch(() => undefined);
    await facade?.close().catch(() => undefined);
    for (const fn of closers.splice(0).reverse()) await fn().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  };

  const hub = await launchHub({ dir: join(dir, 'hub') });
  closers.push(() => hub.close());
  const conn = async (name: string): Promise<NatsConnection> => {
    const nc = await connectNats({ servers: hub.clientUrl, name, log });
    closers.push(() => nc.close());
    return nc;
  };

  async function stopWorker(how: 'graceful' | 'crash'): Promise<void> {
    const current = worker;
    worker = undefined;
    if (!current) return;
    // A crash: the connection goes first, so nothing is acked or handed back; JetStream redelivers after ack_wait.
    if (how === 'crash') await current.nc.close();
    await current.running.close();
    if (!current.nc.isClosed()) await current.nc.close();
  }

  try {
    const registry = await startRegistry({ nc: await conn('registry'), log, env: 'production' });
    closers.push(() => registry.close());
    const facadeNc = await conn('facade');
    const newFacade = () => startFacade({
      nc: facadeNc,
      port: 0,
      host: '127.0.0.1',
      keys: [{ integratorId: 'test', key: SUBSCRIPTION_KEY }, { integratorId: 'other', key: OTHER_KEY }],
      log,
      cacheTtlMs: options.cacheTtlMs ?? 500,
      // Halo's pairing rule is tested in pairing.test.ts; async tests query their sites directly.
      requirePairing: false,
      async: { resultTtlMs },
      ...options.facade,
    });
    facade = await newFacade();

    const system: AsyncTestSystem = {
      dir,
      hub,
      log,
      facade: () => {
        if (!facade) throw new Error('no facade running');
        return facade;
      },
      async restartFacade() {
        await facade?.close();
        facade = undefined;
        facade = await newFacade();
      },
      async startWorker() {
        if (worker) throw new Error('a worker is already running');
        const nc = await connectNats({ servers: hub.clientUrl, name: 'worker', log });
        const running = await startWorker({ nc, log: log.child({ worker: true }), resultTtlMs, ackWaitMs: 2_000, retryMaxMs: 300, pullExpiresMs: 1_000, ...options.worker });
        worker = { running, nc };
      },
      stopWorker,
      sampleDatabase(name, pmsId, patients = 300) {
        const path = join(dir, `${name}.db`);
        createSampleDatabase(path, { pmsId, practiceName: `${name} Dental`, patients });
        return path;
      },
      async startAgent(name, databases) {
        let agent: TestAgent;
        if (REAL_AGENT_STREAMS) {
          const config = AgentConfig.parse({
            stateDir: join(dir, 'agents', name),
            hubLeafUrls: [hub.leafUrl],
            heartbeatSeconds: 1,
            databases: databases.map((d) => ('engine' in d ? d : { name: d.name, engine: 'sqlite', path: d.path, profile: 'sample' })),
          });
          const real = await startRealAgent({ config, log: log.child({ agent: name }) });
          agent = { linkGuid: real.linkGuid, sites: real.sites, activeQueries: () => nextHeartbeatLoad(hub, real.linkGuid, log), close: () => real.close() };
        } else {
          let identity = identities.get(name);
          if (!identity) {
            identity = { linkGuid: randomUUID(), sites: new Map() };
            identities.set(name, identity);
          }
          for (const db of databases) if (!identity.sites.has(db.name)) identity.sites.set(db.name, randomUUID());
          agent = await startChunkAgent({ hub, log: log.child({ agent: name }), linkGuid: identity.linkGuid, databases: databases.flatMap((d) => ('path' in d && typeof d.path === 'string' ? [{ name: d.name, path: d.path, haloGuid: identity.sites.get(d.name)! }] : [])) });
        }
        agents.add(agent);
        const closeAgent = agent.close;
        return {
          ...agent,
          close: async () => {
            agents.delete(agent);
            await closeAgent();
          },
        };
      },
      async startAgentProcess(name, databases) {
        const agent = await spawnAgentProcess(dir, hub.leafUrl, name, databases.map((d) => ({
          name: d.name, engine: 'sqlite' as const, path: d.path, profile: 'sample', ...(d.allowWrites ? { allowWrites: true } : {}),
        })));
        agents.add(agent);
        return {
          ...agent,
          close: async () => {
            agents.delete(agent);
            await agent.close();
          },
        };
      },
      call(path, init = {}) {
        const { key = SUBSCRIPTION_KEY, ...rest } = init;
        const headers = new Headers(rest.headers);
        if (key !== null) headers.set('Ocp-Apim-Subscription-Key', key);
        if (rest.body !== undefined && !headers.has('content-type')) headers.set('content-type', 'application/json');
        return fetch(`${system.facade().url}${path}`, { ...rest, headers });
      },
      close,
    };
    if (options.startWorker ?? true) await system.startWorker();
    return system;
  } catch (err) {
    await close();
    throw err;
  }
}

interface ChunkAgentOptions {
  hub: RunningHub;
  log: Logger;
  linkGuid: string;
  databases: Array<{ name: string; path: string; haloGuid: string }>;
}

/**
 * A stand-in for Halo Link that already speaks the chunk protocol: a leaf nats-server, registration with the
 * registry, one subscription per site, and each query streamed from SQLite through ChunkSender under credit.
 */
async function startChunkAgent(options: ChunkAgentOptions): Promise<TestAgent> {
  const { linkGuid, log } = options;
  const closers: Array<() => Promise<unknown>> = [];
  const close = async () => {
    for (const fn of closers.splice(0).reverse()) await fn().catch(() => undefined);
  };
  try {
    const leaf: RunningServer = await launchLeaf(options.hub.leafUrl);
    closers.push(() => leaf.close());
    const nc = await connectNats({ servers: leaf.clientUrl, name: `chunk-agent-${linkGuid}`, log, inboxPrefix: subjects.agentInbox(linkGuid) });
    closers.push(() => nc.close());
    const acks = new AckRouter({ nc, linkGuid, log });
    closers.push(() => acks.close());
    const profile = getProfile('sample');
    const registration: RegisterRequest = { linkGuid, env: 'production', version: '0.1.0-chunk', sites: [] };
    for (const db of options.databases) {
      const connector = await openConnector({ engine: 'sqlite', path: db.path });
      try {
        const identity = await profile.readIdentity(connector);
        registration.sites.push({
          haloGuid: db.haloGuid,
          pmsType: profile.pmsType,
          pmsId: identity.pmsId,
          practiceName: identity.practiceName,
          databaseIdentity: connector.identity(),
          catalogues: await profile.catalogues(connector),
        });
      } finally {
        await connector.close();
      }
    }
    const inFlight = new Set<Promise<void>>();
    let served = 0;
    const subs: Subscription[] = options.databases.map((db) => nc.subscribe(subjects.query(linkGuid, db.haloGuid), {
      callback: (err, msg) => {
        if (err) return;
        if (msg.data.length === 0) {
          msg.respond(); // an interest probe
          return;
        }
        served++;
        const task = serveQuery(nc, acks, db, msg, log).finally(() => inFlight.delete(task));
        inFlight.add(task);
      },
    }));
    closers.push(async () => {
      for (const sub of subs) sub.unsubscribe();
      await acks.close();
      await Promise.allSettled([...inFlight]);
    });
    await nc.flush();
    await requestJson(nc, subjects.linkRegistry('register', linkGuid), registration, RegisterResult, { timeoutMs: 10_000, noResponders: 'registry_unavailable' });
    // Queries only reach this agent once the hub has the leaf's interest: probe until a query would be delivered.
    await waitForInterest(options.hub, linkGuid, options.databases.map((d) => d.haloGuid), log);
    return {
      linkGuid,
      sites: options.databases.map((d) => ({ name: d.name, haloGuid: d.haloGuid })),
      served: () => served,
      activeQueries: async () => inFlight.size,
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}

async function serveQuery(nc: NatsConnection, acks: AckRouter, db: { path: string; haloGuid: string }, msg: Msg, log: Logger): Promise<void> {
  const received = Date.now();
  let request: QueryRequest;
  try {
    request = decodeJson(QueryRequest, msg.data);
  } catch {
    return;
  }
  if (!msg.reply) return;
  const { chunkBytes, window, keepAliveMs } = readRequestOptions(msg);
  const sender = new ChunkSender({ nc, replySubject: msg.reply, acks: acks.open(request.queryId), window, chunkBytes, keepAliveMs, stallMs: 30_000, deadline: request.deadline, log });
  const connector = await openConnector({ engine: 'sqlite', path: db.path });
  try {
    if (request.haloGuid !== db.haloGuid) throw new AppError('bad_request', 'the query names another site');
    const cursor = await connector.stream({
      text: request.command.text,
      parameters: request.command.parameters,
      executionMode: request.command.executionMode,
      deadline: request.deadline,
      signal: sender.signal,
    });
    const started = Date.now();
    await sender.meta(cursor.columns);
    for await (const batch of cursor) await sender.rows(batch);
    const summary = cursor.summary();
    await sender.end({ timings: { queuedMs: started - received, executionMs: summary.executionMs }, ...(summary.affected !== undefined ? { affected: summary.affected } : {}) });
  } catch (err) {
    sender.fail(err);
  } finally {
    await connector.close().catch(() => undefined);
  }
}

/** In-flight plus queued queries from the agent's next heartbeat (metadata only). */
async function nextHeartbeatLoad(hub: RunningHub, linkGuid: string, log: Logger): Promise<number> {
  const nc = await connectNats({ servers: hub.clientUrl, name: 'heartbeat-probe', log });
  try {
    const sub = nc.subscribe(subjects.heartbeat(linkGuid), { max: 1, timeout: 10_000 });
    for await (const msg of sub) {
      const { load } = decodeJson(Heartbeat, msg.data);
      return load.inFlight + load.queued;
    }
    throw new Error('no heartbeat');
  } finally {
    await nc.close();
  }
}

async function waitForInterest(hub: RunningHub, linkGuid: string, haloGuids: string[], log: Logger): Promise<void> {
  const nc = await connectNats({ servers: hub.clientUrl, name: 'interest-probe', log });
  try {
    for (let i = 0; i < 200; i++) {
      const ok = await Promise.all(haloGuids.map(async (g) => {
        // A request nobody answers times out; one with no subscriber fails fast with no responders.
        const reply = await nc.request(subjects.query(linkGuid, g), new Uint8Array(), { timeout: 200 }).then(() => 'answered', (err: unknown) => (err instanceof Error && /no responders/i.test(err.message) ? 'none' : 'timeout'));
        return reply !== 'none';
      }));
      if (ok.every(Boolean)) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error('agent subscriptions never reached the hub');
  } finally {
    await nc.close();
  }
}
