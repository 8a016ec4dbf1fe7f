// A whole Halo system in operator/JWT mode on random loopback ports: a secure hub (full resolver, leafnode TLS),
// a registry and an HTTPS facade per environment (PROD and STAGING accounts), each service with its own creds;
// agents enrol with one-time tokens support issues through the facade.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Environment } from '@halo/contracts';
import { createLogger, type Logger } from '@halo/log';
import { connectNats, type NatsConnection } from '@halo/messaging';
import { keyFromSeed, operatorSigningKey } from '@halo/nats-auth';
import { createSampleDatabase } from '@halo/sample-practice';
import { launchSecureHub, type RunningSecureHub } from '@halo/testkit';
import { startRegistry } from '@halo/registry';
import { startFacade, type RunningFacade } from '@halo/facade';
import { AgentConfig, startAgent, type Agent, type AgentConfigInput } from '@halo/agent';
import { facadeClient } from '@halo/demo';

/** One environment's services: its facade (HTTPS), keys and the facade's own NATS connection. */
export interface SecureEnv {
  readonly env: Environment;
  readonly facade: RunningFacade;
  readonly facadeNc: NatsConnection;
  readonly subscriptionKey: string;
  readonly supportKey: string;
  /** The facade's requester id: its replies arrive on `halo.v1.r.*.<requesterId>.>`. */
  readonly requesterId: string;
  /** HTTPS request to this facade (trusting the test CA); `key`: subscription key (null: none); `support`: Bearer support key. */
  call(path: string, init?: { method?: string; body?: unknown; key?: string | null; support?: boolean | string }): Promise<{ status: number; body: any }>;
  /** A one-time enrolment token for this environment, issued through `/support/enrolment-tokens`. */
  enrolmentToken(ttlSeconds?: number): Promise<string>;
}

export interface SecureSystem {
  readonly dir: string;
  readonly hub: RunningSecureHub;
  readonly log: Logger;
  readonly production: SecureEnv;
  readonly staging: SecureEnv;
  /** An unrestricted SYS user (LEAFZ, CONNZ) for assertions. */
  readonly sysNc: NatsConnection;
  sampleDatabase(name: string, pmsId: string, practiceName?: string): string;
  /** Starts an agent that enrols with a fresh token of `env` (or `token`) on first start. */
  startAgent(name: string, env: Environment, databases: AgentConfigInput['databases'], extra?: Partial<AgentConfigInput> & { token?: string }): Promise<Agent>;
  /** The agent's state directory (where link.creds lives). */
  stateDir(name: string): string;
  /** Names of the leaf servers connected to the hub in an account (`link-<linkGuid>`). */
  leafNames(env: Environment): Promise<string[]>;
  close(): Promise<void>;
}

export async function startSecureSystem(options: { logLevel?: 'silent' | 'info' | 'debug' } = {}): Promise<SecureSystem> {
  const log = createLogger({ name: 'secure-test', level: options.logLevel ?? 'silent' });
  const dir = mkdtempSync(join(tmpdir(), 'halo-secure-'));
  const closers: Array<() => Promise<unknown>> = [];
  const close = async () => {
    for (const fn of closers.splice(0).reverse()) await fn().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const hub = await launchSecureHub({ dir: join(dir, 'hub'), log });
    closers.push(() => hub.close());
    const { setup } = hub;
    const conn = async (name: string, credsFile: string): Promise<NatsConnection> => {
      const nc = await connectNats({ servers: hub.clientUrl, name, log, credsFile });
      closers.push(() => nc.close());
      return nc;
    };
    const sysNc = await conn('test-sys-admin', setup.sysCreds.admin);
    const ca = readFileSync(setup.tls.caFile);

    const startEnv = async (env: Environment): Promise<SecureEnv> => {
      const account = setup.accounts[env];
      const claimsNc = await conn(`registry-claims-${env}`, setup.sysCreds.claims);
      const registry = await startRegistry({
        nc: await conn(`registry-${env}`, account.creds.registry), log: log.child({ env }), env,
        enrolment: {
          accountPublicKey: account.publicKey,
          linkSigningKey: keyFromSeed(readFileSync(account.linkSigningSeedFile, 'utf8')),
          revocation: { sysNc: claimsNc, operatorSigningKey: operatorSigningKey(setup) },
        },
      });
      closers.push(() => registry.close());
      const facadeNc = await conn(`facade-${env}`, account.creds.facade);
      const subscriptionKey = randomBytes(32).toString('base64url');
      const supportKey = randomBytes(32).toString('base64url');
      const facade = await startFacade({
        nc: facadeNc, port: 0, host: '127.0.0.1', log: log.child({ env }), cacheTtlMs: 500, requesterId: `facade${env}`,
        keys: [{ integratorId: `integrator-${env}`, key: subscriptionKey }],
        supportKeys: [{ supportUserId: `support-${env}`, key: supportKey }],
        enrolment: true,
        // Halo's pairing rule is tested in pairing.test.ts and by npm start (demo.test.ts).
        requirePairing: false,
        https: { certFile: setup.tls.certFile, keyFile: setup.tls.keyFile },
      });
      closers.push(() => facade.close());
      const client = facadeClient(facade.url, ca);
      const call: SecureEnv['call'] = (path, init = {}) => {
        const headers: Record<string, string> = {};
        const key = init.key === undefined ? subscriptionKey : init.key;
        if (init.support) headers.authorization = `Bearer ${typeof init.support === 'string' ? init.support : supportKey}`;
        else if (key !== null) headers['ocp-apim-subscription-key'] = key;
        return client(path, { headers, ...(init.method ? { method: init.method } : {}), ...(init.body !== undefined ? { body: init.body } : {}), timeoutMs: 30_000 });
      };
      return {
        env, facade, facadeNc, subscriptionKey, supportKey, call, requesterId: `facade${env}`,
        async enrolmentToken(ttlSeconds) {
          const res = await call('/support/enrolment-tokens', { method: 'POST', support: true, body: ttlSeconds ? { ttlSeconds } : {} });
          if (res.status !== 200) throw new Error(`enrolment token: ${res.status} ${JSON.stringify(res.body)}`);
          return (res.body as { token: string }).token;
        },
      };
    };
    const production = await startEnv('production');
    const staging = await startEnv('staging');
    const agents: Agent[] = [];
    closers.push(() => Promise.all(agents.map((a) => a.close())));
    const envs = { production, staging };
    const stateDir = (name: string) => join(dir, 'agents', name);

    return {
      dir, hub, log, production, staging, sysNc, stateDir,
      sampleDatabase(name, pmsId, practiceName = `${name} Dental`) {
        const path = join(dir, `${name}.db`);
        createSampleDatabase(path, { pmsId, practiceName, patients: 50 });
        return path;
      },
      async startAgent(name, env, databases, extra = {}) {
        const { token: given, ...rest } = extra;
        const token = given ?? await envs[env].enrolmentToken();
        const config = AgentConfig.parse({
          env, stateDir: stateDir(name), hubLeafUrls: [hub.leafUrl], heartbeatSeconds: 1, databases,
          enrolment: { url: envs[env].facade.url, token, caFile: setup.tls.caFile },
          ...rest,
        });
        const agent = await startAgent({ config, log: log.child({ agent: name }) });
        agents.push(agent);
        return agent;
      },
      async leafNames(env) {
        const account = setup.accounts[env].publicKey;
        const res = await sysNc.request(`$SYS.REQ.ACCOUNT.${account}.LEAFZ`, '', { timeout: 5_000 });
        const body = res.json<{ data?: { leafs?: Array<{ name?: string }> } }>();
        return (body.data?.leafs ?? []).map((l) => l.name ?? '').sort();
      },
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}

export { eventually } from './system.ts';
