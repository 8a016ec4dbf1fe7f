// npm run bench:relay — latency and throughput of a one-row immediate query through the facade (HTTPS ->
// facade -> hub -> leaf -> agent -> SQLite and back), beside, in the same run: (a) the same query on the SQLite
// connector in-process and (b) a raw NATS request-reply echo through the same hub and a leaf (creds and leafnode
// TLS, as the agents have) and (c) HTTPS /health of the same facade and (d) the architecture's floor (floor-relay.ts:
// a bare HTTPS process and a bare agent on a leaf doing nothing but relay the query), and the CPU each process on each path spends
// per query (/proc/<pid>/stat before and after each phase). Every HTTP path uses one client: an undici Agent with
// keep-alive connections and pipelining (BENCH_CONNECTIONS x BENCH_PIPELINING, default 16 x 4 = the 64 in flight).
// Prints figures and ratios; no pass/fail.
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { createLogger, readStageTrace } from '@halo/log';
import { connectNats } from '@halo/messaging';
import { openConnector } from '@halo/pms';
import type { Dispatcher } from 'undici';
import { launchLeaf } from '@halo/testkit';
import { startDemo } from '@halo/demo';
import { demoAccess } from './demo-access.ts';
import { fmt, latencyOf, percentile, sequentialTimes, throughput } from './stats.ts';
import { cpuLine, natsServerChildren, sqliteWorkers, startCpu, type ProcessRoles } from './proc.ts';
import { loadSecureSetup } from '@halo/nats-auth';
import { startFloorRelay } from './floor-relay.ts';
import { addMessages, hubMessages, messagesLine, type MessageCounts } from './hub-messages.ts';

const N = Number(process.env.BENCH_N ?? 500);
const TOTAL = Number(process.env.BENCH_TOTAL ?? 3000);
const IN_FLIGHT = 64;
const WARM = Number(process.env.BENCH_WARM ?? 1500);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 16);
const PIPELINING = Number(process.env.BENCH_PIPELINING ?? 4);
const ROUNDS = Math.max(1, Number(process.env.BENCH_ROUNDS ?? 5));
const log = createLogger({ name: 'bench', level: 'silent' });

const dataDir = mkdtempSync(join(tmpdir(), 'halo-bench-'));
// Every service process keeps the stages each query reaches (libs/log stage-trace.ts), written when it stops: the
// facade path's sequential phase is then broken down hop by hop.
const traceDir = join(dataDir, 'stages');
process.env.HALO_STAGE_TRACE_DIR = traceDir;
// The facade's per-key rate limit (default 1000/s, burst 2000; its env is the demo's) would answer 429 to a
// throughput run that outpaces it: this bench measures the relay, not the limiter.
process.env.HALO_RATE_LIMIT_PER_SECOND ??= '1000000';
process.env.HALO_RATE_LIMIT_BURST ??= '1000000';
const demo = await startDemo({ dataDir, httpPort: 0 });
// The facade serves HTTPS with a certificate of the demo's CA; NATS needs creds (operator/JWT mode).
const access = demoAccess(demo, { connections: CONNECTIONS, pipelining: PIPELINING });
const { dispatcher } = access;
const cleanups: Array<() => Promise<unknown>> = [
  async () => demo.close(), async () => rmSync(dataDir, { recursive: true, force: true }), () => dispatcher.close(),
];
try {
  const site = demo.sites.find((s) => s.authoritative)!;
  const dbPath = demo.databases.find((d) => d.haloGuid === site.haloGuid)!.path;
  const text = 'SELECT PatNum, LName, FName, Birthdate FROM patient WHERE PatNum = @patNum';
  const body = JSON.stringify({ command: { text, parameters: [{ name: '@patNum', type: 'Int', value: '42' }] } });
  const origin = new URL(demo.facadeUrl).origin;
  const headers = { 'content-type': 'application/json', 'ocp-apim-subscription-key': demo.subscriptionKey };
  // undici's request() rather than fetch: fetch cannot mark a POST idempotent, and undici pipelines only those.
  // The immediate query only reads, so a retry on a dropped connection is safe.
  const call = async (options: Omit<Dispatcher.RequestOptions, 'origin'>, at = origin) => {
    const res = await dispatcher.request({ origin: at, idempotent: true, ...options });
    if (res.statusCode !== 200) throw new Error(`facade answered ${res.statusCode}: ${await res.body.text()}`);
    return res.body.arrayBuffer();
  };
  // While `clientStages` is set (the facade path's sequential phase), each query's send and answer as the client
  // saw them, on the same clock as the services' stages.
  let clientStages: Array<{ queryId: string; sent: bigint; answered: bigint }> | undefined;
  const viaFacade = async () => {
    const sent = process.hrtime.bigint();
    const answer = await call({ path: `/integrator/sites/${site.haloGuid}/queries/immediate`, method: 'POST', headers, body });
    if (clientStages) clientStages.push({ queryId: (JSON.parse(new TextDecoder().decode(answer)) as { id: string }).id, sent, answered: process.hrtime.bigint() });
  };

  const connector = await openConnector({ engine: 'sqlite', path: dbPath });
  cleanups.push(() => connector.close());
  const direct = () => connector.query({ text, parameters: [{ name: '@patNum', direction: 'input', type: 'Int', value: '42' }], executionMode: 'reader', deadline: Date.now() + 30_000 });
  const oneRow = JSON.stringify((await direct()).rows);

  // (b) an echo responder on its own leaf of the same hub, answering with a payload the size of the real reply.
  const leaf = await launchLeaf(demo.hub.leafUrl, { secure: { credsFile: access.credsFile, caFile: access.caFile } });
  cleanups.push(() => leaf.close());
  const responder = await connectNats({ servers: leaf.clientUrl, name: 'bench-echo', log });
  cleanups.push(() => responder.close());
  const requester = await connectNats({ servers: demo.hub.clientUrl, name: 'bench-requester', log, credsFile: access.credsFile });
  cleanups.push(() => requester.close());
  const subject = `bench.echo.${randomUUID()}`;
  responder.subscribe(subject, { callback: (_err, msg) => { msg.respond(msg.data); } });
  await responder.flush();
  const payload = new TextEncoder().encode(body + oneRow);
  const echo = async () => {
    for (let attempt = 0; ; attempt++) {
      try {
        return await requester.request(subject, payload, { timeout: 5000 });
      } catch (err) {
        if (attempt > 50) throw err; // interest may still be crossing the leaf at the very start
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  };

  // (d) the architecture's floor: bare processes of the same shape doing nothing but the relay (floor-relay.ts).
  const tls = loadSecureSetup(demo.secretsDir).tls;
  const floor = await startFloorRelay({ hubUrl: demo.hub.clientUrl, leafClientUrl: leaf.clientUrl, credsFile: access.credsFile, tls, dbPath, text });
  cleanups.push(() => floor.close());
  const viaFloor = () => call({ path: '/', method: 'POST', headers, body }, floor.url);

  // (c), for the breakdown only: an HTTP round trip to the same facade that does no work.
  const health = () => call({ path: '/health', method: 'GET' });

  // The processes each path runs through, found afresh at each sample (a restart changes a pid). Agent 1 serves
  // the authoritative practice A; its leaf nats-server and SQLite workers are its children, the hub's nats-server a
  // child of the demo's hub process. "bench" is this process: the HTTP client, or (a)'s connector, or (b)'s echo.
  const pid = (name: string) => () => [demo.processes[name]!];
  const self = () => [process.pid];
  const hub = () => natsServerChildren(demo.processes.hub!);
  const roles: Record<string, ProcessRoles> = {
    'facade path': {
      facade: pid('facade'), registry: pid('registry'), hub, leaf: () => natsServerChildren(demo.processes['agent-1']!),
      agent: pid('agent-1'), 'db child': () => sqliteWorkers(demo.processes['agent-1']!), bench: self,
    },
    '(a) sqlite in-process': { bench: self, 'db child': () => sqliteWorkers(process.pid) },
    '(b) nats echo via leaf': { hub, leaf: () => [leaf.server.pid!], bench: self },
    '(c) http /health': { facade: pid('facade'), bench: self },
    '(d) floor: bare relay': { facade: () => [floor.pids.facade], hub, leaf: () => [leaf.server.pid!], agent: () => [floor.pids.agent], bench: self },
  };

  const traced: NonNullable<typeof clientStages> = [];
  const paths = [['facade path', viaFacade], ['(a) sqlite in-process', direct], ['(b) nats echo via leaf', echo], ['(c) http /health', health], ['(d) floor: bare relay', viaFloor]] as const;
  for (const [, op] of paths) {
    await op(); // the first call of a path may wait for interest to cross the leaf; not measured
    // Measured warm, as a running deployment is: the JIT has compiled the path, and the agent has the SQLite
    // workers its slots use under load (each a process whose start-up costs ~0.5 s of CPU). Without this the
    // first path measured paid for the demo's start-up too.
    await throughput(op, WARM, IN_FLIGHT);
  }
  // The paths take turns, ROUNDS times, each a share of the queries: these machines' speed drifts by half within
  // minutes, and a path measured whole before the next would carry that drift into every ratio.
  const results = paths.map(([name]) => ({
    name, times: [] as number[], warmups: 0, tputOps: 0, tputMs: 0,
    cpuSeq: {} as Record<string, number>, cpuTput: {} as Record<string, number>, msgs: {} as MessageCounts, p50s: [] as number[], tputs: [] as number[],
  }));
  const seqPerRound = Math.ceil(N / ROUNDS);
  const tputPerRound = Math.ceil(TOTAL / ROUNDS);
  for (let round = 0; round < ROUNDS; round++) {
    for (const [k, [name, op]] of paths.entries()) {
      const r = results[k]!;
      const msgsBefore = await hubMessages(demo.hub.monitorUrl);
      let cpu = startCpu(roles[name]!);
      if (op === viaFacade) clientStages = [];
      const warmup = Math.ceil(seqPerRound / 10);
      const times = await sequentialTimes(op, seqPerRound, warmup);
      addTo(r.cpuSeq, cpu.stop());
      if (op === viaFacade) {
        traced.push(...clientStages!.slice(-seqPerRound)); // the measured ones, not the warm-up
        clientStages = undefined;
      }
      addMessages(r.msgs, msgsBefore, await hubMessages(demo.hub.monitorUrl));
      r.times.push(...times);
      r.warmups += warmup;
      r.p50s.push(latencyOf(times).p50);
      cpu = startCpu(roles[name]!);
      const rate = await throughput(op, tputPerRound, IN_FLIGHT);
      r.tputMs += (tputPerRound / rate) * 1000;
      r.tputOps += tputPerRound;
      r.tputs.push(rate);
      addTo(r.cpuTput, cpu.stop());
    }
  }

  console.log(`relay benchmark: one-row immediate query; after ${WARM} unmeasured with ${IN_FLIGHT} in flight, ${seqPerRound * ROUNDS} sequential and ${tputPerRound * ROUNDS} with ${IN_FLIGHT} in flight, the paths taking turns in ${ROUNDS} rounds; HTTP client: undici, ${CONNECTIONS} keep-alive connections x pipelining ${PIPELINING}; node ${process.version}`);
  console.log('path                       p50 ms   p99 ms   mean ms   req/s (64 in flight)');
  const figures = results.map((r) => ({ ...r, lat: latencyOf(r.times), tput: r.tputOps / (r.tputMs / 1000) }));
  for (const { name, lat, tput } of figures) {
    console.log(`${name.padEnd(26)} ${fmt(lat.p50).padStart(7)}  ${fmt(lat.p99).padStart(7)}  ${fmt(lat.mean).padStart(8)}   ${fmt(tput, 0).padStart(8)}`);
  }
  console.log('CPU per query of each process on the path (/proc/<pid>/stat utime+stime; sequential phases incl. their warm-ups, then the 64-in-flight phases):');
  for (const { name, cpuSeq, cpuTput, times, warmups, tputOps } of figures) {
    console.log(`${name}`);
    console.log(`  sequential    ${cpuLine('query', cpuSeq, times.length + warmups)}`);
    console.log(`  64 in flight  ${cpuLine('query', cpuTput, tputOps)}`);
  }
  // Every message the hub carried in the sequential phases (their warm-ups included), background traffic too
  // (heartbeats, KV watches): the facade path's count per query shows what one query costs in messages.
  console.log('NATS messages per query through the hub (/connz of its monitoring port; sequential phases incl. their warm-ups):');
  for (const { name, msgs, times, warmups } of figures.slice(0, 3)) console.log(`  ${name.padEnd(24)} ${messagesLine({}, msgs, times.length + warmups)}`);
  const [path, a, b, c, d] = figures as [typeof figures[0], typeof figures[0], typeof figures[0], typeof figures[0], typeof figures[0]];
  const base = a.lat.p50 + b.lat.p50;
  console.log(`ratio p50 facade / ((a)+(b)): ${fmt(path.lat.p50 / base)}x (aim: <= 2x)`);
  console.log(`ratio p99 facade / ((a)+(b)): ${fmt(path.lat.p99 / (a.lat.p99 + b.lat.p99))}x`);
  console.log(`ratio p50 facade / ((a)+(b)+(c)): ${fmt(path.lat.p50 / (base + c.lat.p50))}x (what the relay adds beyond its three unavoidable parts)`);
  console.log(`throughput with ${IN_FLIGHT} in flight facade / (c) /health: ${fmt(path.tput / c.tput)}x (aim: >= 0.5x)`);
  console.log(`the floor (d) on the same ratios: p50 ${fmt(d.lat.p50 / base)}x, throughput ${fmt(d.tput / c.tput)}x`);
  // Each round's own ratios: how far the machine moved them during this run.
  const perRound = (f: (k: number) => number) => Array.from({ length: ROUNDS }, (_, k) => fmt(f(k))).join(' ');
  console.log(`per round: p50 ratio ${perRound((k) => path.p50s[k]! / (a.p50s[k]! + b.p50s[k]!))}; throughput ratio ${perRound((k) => path.tputs[k]! / c.tputs[k]!)}`);
  console.log(`per round, the floor: p50 ratio ${perRound((k) => d.p50s[k]! / (a.p50s[k]! + b.p50s[k]!))}; throughput ratio ${perRound((k) => d.tputs[k]! / c.tputs[k]!)}`);
  await demo.close(); // its processes write their stages as they stop
  console.log(stageBreakdown(traced, traceDir));
  console.log(`throughput facade / (a): ${fmt(path.tput / a.tput)}x, facade / (b): ${fmt(path.tput / b.tput)}x`);
} finally {
  delete process.env.HALO_STAGE_TRACE_DIR;
  for (const fn of cleanups.reverse()) await fn().catch((err: unknown) => console.error(err));
}

/** The facade path's sequential queries hop by hop: p50 and mean of the time between consecutive stages. */
function stageBreakdown(queries: ReadonlyArray<{ queryId: string; sent: bigint; answered: bigint }>, dir: string): string {
  const stages = new Map<string, Map<string, bigint>>();
  for (const file of existsSync(dir) ? readdirSync(dir) : []) readStageTrace(readFileSync(join(dir, file), 'utf8'), stages);
  const hops: Array<[from: string, to: string, what: string]> = [
    ['client.sent', 'facade.received', 'HTTPS request to the facade, up to its first hook'],
    ['facade.received', 'facade.published', 'facade: key, limits, body, site, publish'],
    ['facade.published', 'agent.received', 'NATS: facade -> hub -> leaf -> agent'],
    ['agent.received', 'agent.started', 'agent: decode, checks, slot'],
    ['agent.started', 'agent.columns', 'agent -> SQLite worker and back: the columns (an immediate JSON answer: with its rows)'],
    ['agent.columns', 'agent.sent', 'rows from the worker if still to come, the whole reply published'],
    ['agent.sent', 'facade.replied', 'NATS: agent -> leaf -> hub -> facade'],
    ['facade.replied', 'facade.answered', 'facade: result collected, answer built'],
    ['facade.answered', 'client.answered', 'HTTPS answer to the client'],
  ];
  const ms: number[][] = hops.map(() => []);
  let complete = 0;
  for (const { queryId, sent, answered } of queries) {
    const at = new Map(stages.get(queryId) ?? []);
    at.set('client.sent', sent).set('client.answered', answered);
    if (!hops.every(([from, to]) => at.has(from) && at.has(to))) continue;
    complete++;
    hops.forEach(([from, to], i) => ms[i]!.push(Number(at.get(to)! - at.get(from)!) / 1e6));
  }
  const lines = [`where a sequential query's time goes (${complete} of ${queries.length} queries traced at every stage; HALO_STAGE_TRACE_DIR, one clock):`];
  let sum = 0;
  hops.forEach(([from, to, what], i) => {
    const sorted = ms[i]!.sort((a, b) => a - b);
    const p50 = percentile(sorted, 50);
    sum += p50;
    lines.push(`  ${fmt(p50, 3).padStart(6)} ms p50  ${fmt(sorted.reduce((a, b) => a + b, 0) / Math.max(1, sorted.length), 3).padStart(6)} mean  ${`${from} -> ${to}`.padEnd(36)} ${what}`);
  });
  lines.push(`  ${fmt(sum, 3).padStart(6)} ms: the p50s added up`);
  return lines.join('\n');
}

/** Adds each role's CPU milliseconds of one phase to `into`. */
function addTo(into: Record<string, number>, used: Record<string, number>): void {
  for (const [role, ms] of Object.entries(used)) into[role] = (into[role] ?? 0) + ms;
}
