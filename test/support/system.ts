import { mkdtempSync, rmSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger, type Logger } from '@halo/log';
import { connectNats, type NatsConnection } from '@halo/messaging';
import { createSampleDatabase } from '@halo/sample-practice';
import { launchHub, type RunningHub } from '@halo/testkit';
import { startRegistry } from '@halo/registry';
import { startFacade, type RunningFacade } from '@halo/facade';
import { AgentConfig, startAgent, type Agent, type AgentConfigInput, type AgentDeps } from '@halo/agent';

/** A well-formed subscription key (33 bytes, base64url): the facade refuses keys under 32 bytes. */
export const SUBSCRIPTION_KEY = 'test-key-0123456789abcdefghijklmnopqrstuvwxy';

/** A whole Halo system on random loopback ports: hub, registry, facade; agents are added per test. */
export interface TestSystem {
  readonly dir: string;
  readonly hub: RunningHub;
  readonly facade: RunningFacade;
  /** The facade's own NATS connection (tests watch it for slow-consumer events). */
  readonly facadeNc: NatsConnection;
  readonly log: Logger;
  /** Creates a sample practice database file (deterministic) and returns its path. */
  sampleDatabase(name: string, pmsId: string, practiceName?: string, patients?: number): string;
  /** Copies a database file (a backup restored elsewhere: same PMS ID). */
  copyDatabase(from: string, name: string): string;
  /** `deps.fingerprintSource` stands in for the machine (tests of state moved to another machine). */
  startAgent(name: string, databases: AgentConfigInput['databases'], extra?: Partial<AgentConfigInput>, deps?: Pick<AgentDeps, 'fingerprintSource'>): Promise<Agent>;
  /** fetch against the facade with the subscription key. */
  call(path: string, init?: RequestInit & { key?: string | null }): Promise<Response>;
  close(): Promise<void>;
}

/**
 * `requirePairing`: Halo's rule that queries need a pairing (the facade's default). Off unless a test asks, so tests
 * about other things query their sites directly; test/e2e/pairing.test.ts and `npm start` (demo.test.ts) keep it on.
 */
export async function startTestSystem(options: { logLevel?: 'silent' | 'info' | 'debug'; stallMs?: number; requirePairing?: boolean } = {}): Promise<TestSystem> {
  const log = createLogger({ name: 'test', level: options.logLevel ?? 'silent' });
  const dir = mkdtempSync(join(tmpdir(), 'halo-e2e-'));
  const closers: Array<() => Promise<unknown>> = [];
  const close = async () => {
    for (const fn of closers.splice(0).reverse()) await fn().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const hub = await launchHub({ dir: join(dir, 'hub') });
    closers.push(() => hub.close());
    const conn = async (name: string): Promise<NatsConnection> => {
      const nc = await connectNats({ servers: hub.clientUrl, name, log });
      closers.push(() => nc.close());
      return nc;
    };
    const registry = await startRegistry({ nc: await conn('registry'), log, env: 'production' });
    closers.push(() => registry.close());
    const facadeNc = await conn('facade');
    const facade = await startFacade({
      nc: facadeNc, port: 0, host: '127.0.0.1', keys: [{ integratorId: 'test', key: SUBSCRIPTION_KEY }], log, cacheTtlMs: 500,
      requirePairing: options.requirePairing ?? false,
      ...(options.stallMs !== undefined ? { stallMs: options.stallMs } : {}),
    });
    closers.push(() => facade.close());
    const agents: Agent[] = [];
    closers.push(() => Promise.all(agents.map((a) => a.close())));

    return {
      dir,
      hub,
      facade,
      facadeNc,
      log,
      sampleDatabase(name, pmsId, practiceName = `${name} Dental`, patients = 300) {
        const path = join(dir, `${name}.db`);
        createSampleDatabase(path, { pmsId, practiceName, patients });
        return path;
      },
      copyDatabase(from, name) {
        const path = join(dir, `${name}.db`);
        copyFileSync(from, path);
        return path;
      },
      async startAgent(name, databases, extra = {}, deps = {}) {
        const config = AgentConfig.parse({ stateDir: join(dir, 'agents', name), hubLeafUrls: [hub.leafUrl], heartbeatSeconds: 1, databases, ...extra });
        const agent = await startAgent({ ...deps, config, log: log.child({ agent: name }) });
        agents.push(agent);
        return agent;
      },
      call(path, init = {}) {
        const { key = SUBSCRIPTION_KEY, ...rest } = init;
        const headers = new Headers(rest.headers);
        if (key !== null) headers.set('Ocp-Apim-Subscription-Key', key);
        if (rest.body !== undefined && !headers.has('content-type')) headers.set('content-type', 'application/json');
        return fetch(`${facade.url}${path}`, { ...rest, headers });
      },
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}

/** Polls `fn` until it returns a truthy value or `timeoutMs` passes (then the last error or a timeout). */
export async function eventually<T>(fn: () => Promise<T | undefined | false>, timeoutMs = 15_000, everyMs = 100): Promise<T> {
  const until = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await fn();
      if (value) return value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > until) throw last instanceof Error ? last : new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
