// `npm run bench:scale`: 10,000 Halo GUIDs on the production topology (`npm run cluster`'s startCluster: 3 TLS hub
// nodes, 2 registries, 2 workers, 2 facades behind haproxy), served by real agents with real leaf nats-servers
// (default 20 agents x 500 tiny SQLite databases, HALO_BENCH_AGENTS / HALO_BENCH_SITES_PER_AGENT). Prints
// registration time, hub node and registry memory, lookup p50/p99, and one-row query p50/p99 against 10 sites
// and against all sites side by side in the same run (aim: all-sites p50 within 1.3x of 10-site), and the
// facades' memory before and after every site was looked up (their site cache).
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import Database from 'better-sqlite3';
import { projectRoot } from '@halo/config';
import { facadeClient, startCluster, type FacadeCall, type RunningCluster } from '@halo/demo';
import { createSampleDatabase, samplePairingCode } from '@halo/sample-practice';
import { currentRss } from './proc.ts';
import { percentile } from './stats.ts';

const AGENTS = Number(process.env.HALO_BENCH_AGENTS ?? 20);
const PER_AGENT = Number(process.env.HALO_BENCH_SITES_PER_AGENT ?? 500);
const SAMPLES = Number(process.env.HALO_BENCH_SAMPLES ?? 1_000);
const root = projectRoot();
const mib = (bytes: number) => `${(bytes / 1024 ** 2).toFixed(0)} MiB`;
const ms = (n: number) => `${n.toFixed(1)} ms`;
const say = (line: string) => process.stdout.write(`${line}\n`);

const dataDir = mkdtempSync(join(tmpdir(), 'halo-bench-scale-'));
const agents: ChildProcess[] = [];
let cluster: RunningCluster | undefined;
const SETPRIV = ['/usr/bin/setpriv', '/bin/setpriv'].find((p) => existsSync(p));

try {
  say(`bench:scale: ${AGENTS} agents x ${PER_AGENT} SQLite databases = ${AGENTS * PER_AGENT} sites; data in ${dataDir}`);
  // Tiny databases: copies of a one-patient sample, each given its own PMS ID. Made before the cluster starts:
  // this synchronous loop blocks the event loop for half a minute, and haproxy closes keep-alive sockets idle
  // that long under a request just being written (ECONNRESET).
  const t0 = performance.now();
  const template = join(dataDir, 'template.db');
  createSampleDatabase(template, { pmsId: 'SCALE-TEMPLATE', practiceName: 'Scale', patients: 1 });
  const pmsIds: string[][] = [];
  for (let a = 0; a < AGENTS; a++) {
    const dir = join(dataDir, 'scale', `agent-${a}`);
    mkdirSync(dir, { recursive: true });
    pmsIds.push([]);
    for (let d = 0; d < PER_AGENT; d++) {
      const pmsId = `SCALE-${a}-${d}`;
      const file = join(dir, `db-${d}.db`);
      copyFileSync(template, file);
      const db = new Database(file);
      db.prepare('UPDATE practice SET PmsId = ?, PracticeName = ?').run(pmsId, `Scale ${a}/${d}`);
      db.prepare('UPDATE integration SET PairingCode = ? WHERE PairingCode IS NOT NULL').run(samplePairingCode(pmsId));
      db.close();
      pmsIds[a]!.push(pmsId);
    }
  }
  say(`created ${AGENTS * PER_AGENT} databases in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  cluster = await startCluster({ dataDir, httpPort: 0, progress: () => undefined });
  const call = facadeClient(cluster.facadeUrl, readFileSync(cluster.caFile));
  const key = cluster.subscriptionKey;
  const hubs = cluster.processes().filter((p) => p.role === 'hub');
  const pidsOf = (role: string) => cluster!.processes().filter((p) => p.role === role).map((p) => p.pid);
  const rss = (role: string) => pidsOf(role).map(currentRss);
  const before = { hub: rss('hub'), registry: rss('registry'), facade: rss('facade') };


  // Agents: each enrols with a one-time token from the support API and connects to every hub node's leafnode port.
  const leafUrls = hubs.map((h) => `nats-leaf://127.0.0.1:${h.ports.leaf}`);
  const tokens: string[] = [];
  for (let a = 0; a < AGENTS; a++) tokens.push(await enrolmentToken(call, cluster.supportKey!));
  const registrationStart = performance.now();
  const ready = await Promise.all(Array.from({ length: AGENTS }, (_, a) => {
    const config = join(dataDir, 'scale', `agent-${a}.json`);
    writeFileSync(config, JSON.stringify({
      env: 'production', stateDir: join(dataDir, 'scale', `agent-${a}-state`), hubLeafUrls: leafUrls,
      databases: Array.from({ length: PER_AGENT }, (_, d) => ({ name: `db-${d}`, engine: 'sqlite', path: join(dataDir, 'scale', `agent-${a}`, `db-${d}.db`), profile: 'sample' })),
      enrolment: { url: cluster!.facadeUrl, token: tokens[a], caFile: cluster!.caFile },
    }), { mode: 0o600 });
    return startAgent(a, config);
  }));
  const sites = ready.flat();
  const agentsReadyS = (performance.now() - registrationStart) / 1000;
  // Registered means an integrator finds it: poll the last site of each agent through haproxy.
  for (const list of pmsIds) await waitFor(() => lookup(call, key, list.at(-1)!).then((n) => n > 0));
  const registrationS = (performance.now() - registrationStart) / 1000;
  say(`registration: ${sites.length} sites, agents ready after ${agentsReadyS.toFixed(1)} s, all found by lookup after ${registrationS.toFixed(1)} s (${(sites.length / registrationS).toFixed(0)} sites/s)`);

  const all = pmsIds.flat();
  // The integrator pairs with every site (as it would with each practice) before it may query it.
  const pairStart = performance.now();
  for (let a = 0; a < AGENTS; a++) {
    for (let i = 0; i < PER_AGENT; i += 20) await Promise.all(pmsIds[a]!.slice(i, i + 20).map((_, j) => pair(call, key, a, i + j)));
  }
  say(`paired with ${all.length} sites in ${((performance.now() - pairStart) / 1000).toFixed(1)} s`);
  const pick = () => all[Math.floor(Math.random() * all.length)]!;
  const lookups = await timings(SAMPLES, () => lookup(call, key, pick()));
  say(`lookup by PMS ID (random of ${all.length}): p50 ${ms(percentile(lookups, 50))}, p99 ${ms(percentile(lookups, 99))} (n=${lookups.length})`);

  const guidOf = new Map(sites.map((s) => [s.pmsId, s.haloGuid]));
  const ten = all.slice(0, 10).map((p) => guidOf.get(p)!);
  const every = all.map((p) => guidOf.get(p)!);
  // Interleaved, so both see the same machine: one query on one of 10 sites, one on a random site of all.
  const q10: number[] = [];
  const qAll: number[] = [];
  for (let i = 0; i < 50; i++) await query(call, key, ten[i % 10]!); // warm-up
  for (let i = 0; i < SAMPLES; i++) {
    q10.push(await timedQuery(call, key, ten[i % 10]!));
    qAll.push(await timedQuery(call, key, every[Math.floor(Math.random() * every.length)]!));
  }
  const p50ten = percentile(q10.sort((a, b) => a - b), 50);
  const p50all = percentile(qAll.sort((a, b) => a - b), 50);
  say(`one-row query, 10 sites:     p50 ${ms(p50ten)}, p99 ${ms(percentile(q10, 99))} (n=${q10.length})`);
  say(`one-row query, ${every.length} sites: p50 ${ms(p50all)}, p99 ${ms(percentile(qAll, 99))} (n=${qAll.length}); p50 ratio ${(p50all / p50ten).toFixed(2)}x (aim <= 1.3x)`);

  const facadeWarm = rss('facade');
  // Every site looked up once more through the facades: what caching 10,000 sites costs them.
  for (let i = 0; i < all.length; i += 20) await Promise.all(all.slice(i, i + 20).map((p) => lookup(call, key, p)));
  const after = { hub: rss('hub'), registry: rss('registry'), facade: rss('facade') };
  say(`hub nodes RSS: ${before.hub.map(mib).join(', ')} with no sites -> ${after.hub.map(mib).join(', ')}`);
  say(`registries RSS: ${before.registry.map(mib).join(', ')} -> ${after.registry.map(mib).join(', ')}`);
  say(`facades RSS: ${before.facade.map(mib).join(', ')} at start, ${facadeWarm.map(mib).join(', ')} after the queries, ${after.facade.map(mib).join(', ')} after looking up all ${all.length} sites`);
} finally {
  for (const agent of agents) agent.kill('SIGTERM');
  await cluster?.close().catch(() => undefined);
  for (const agent of agents) agent.kill('SIGKILL');
  // HALO_BENCH_KEEP=1 keeps the data directory (the services' logs are in <dir>/logs).
  if (process.env.HALO_BENCH_KEEP) say(`kept ${dataDir}`);
  else rmSync(dataDir, { recursive: true, force: true });
}

async function enrolmentToken(call: FacadeCall, supportKey: string): Promise<string> {
  const res = await call('/support/enrolment-tokens', { body: { ttlSeconds: 3_600, note: 'bench:scale' }, headers: { authorization: `Bearer ${supportKey}` } });
  if (res.status !== 200) throw new Error(`no enrolment token: HTTP ${res.status} ${JSON.stringify(res.body)}`);
  return (res.body as { token: string }).token;
}

/** Runs one agent (as the cluster runs them) and resolves with its sites once it says it is ready. */
function startAgent(n: number, config: string): Promise<Array<{ pmsId: string; haloGuid: string }>> {
  const node = [process.execPath, '--max-semi-space-size=8', join(root, 'services/agent/src/main.ts')];
  const [file, ...args] = SETPRIV ? [SETPRIV, '--pdeathsig', 'KILL', '--', ...node] : node;
  const child = spawn(file!, args, { env: { ...process.env, HALO_AGENT_CONFIG: config, HALO_LOG_LEVEL: 'info' }, stdio: ['ignore', 'pipe', 'inherit'] });
  agents.push(child);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`agent ${n} not ready in 10 minutes`)), 600_000);
    child.once('exit', (code) => reject(new Error(`agent ${n} exited (${code})`)));
    createInterface({ input: child.stdout! }).on('line', (line) => {
      if (process.env.HALO_BENCH_DEBUG) process.stderr.write(`agent ${n}: ${line.slice(0, 400)}\n`);
      if (!line.includes('"agent ready"')) return;
      clearTimeout(timer);
      const { sites } = JSON.parse(line) as { sites: Array<{ name: string; haloGuid: string }> };
      resolve(sites.map((s) => ({ pmsId: `SCALE-${n}-${s.name.slice(3)}`, haloGuid: s.haloGuid })));
    });
  });
}

async function lookup(call: FacadeCall, key: string, pmsId: string): Promise<number> {
  const res = await call(`/integrator/sites?practiceManagementSiteId=${pmsId}`, { headers: { 'Ocp-Apim-Subscription-Key': key } });
  if (res.status !== 200) throw new Error(`lookup: HTTP ${res.status}`);
  return (res.body as { sites: unknown[] }).sites.length;
}

async function pair(call: FacadeCall, key: string, a: number, d: number): Promise<void> {
  const pmsId = `SCALE-${a}-${d}`;
  const params = new URLSearchParams({ practiceManagementSiteId: pmsId, practiceManagementName: 'Sample Dental', pairingCode: samplePairingCode(pmsId) });
  const res = await call(`/integrator/pair-site?${params}`, { method: 'POST', headers: { 'Ocp-Apim-Subscription-Key': key } });
  if (res.status !== 200) throw new Error(`pairing: HTTP ${res.status} ${JSON.stringify(res.body)}`);
}

async function query(call: FacadeCall, key: string, haloGuid: string): Promise<void> {
  const res = await call(`/integrator/sites/${haloGuid}/queries/immediate`, { body: { command: { text: 'SELECT 1 AS one' } }, headers: { 'Ocp-Apim-Subscription-Key': key }, timeoutMs: 30_000 });
  if (res.status !== 200) throw new Error(`query: HTTP ${res.status} ${JSON.stringify(res.body)}`);
}

async function timedQuery(call: FacadeCall, key: string, haloGuid: string): Promise<number> {
  const t = performance.now();
  await query(call, key, haloGuid);
  return performance.now() - t;
}

async function timings(n: number, op: () => Promise<unknown>): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await op();
    out.push(performance.now() - t);
  }
  return out.sort((a, b) => a - b);
}

async function waitFor(check: () => Promise<boolean>, timeoutMs = 600_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await check().catch(() => false))) {
    if (Date.now() > until) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 250));
  }
}
