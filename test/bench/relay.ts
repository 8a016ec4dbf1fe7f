// npm run bench:relay — latency and throughput of a one-row immediate query through the facade (HTTPS ->
// facade -> hub -> leaf -> agent -> SQLite and back), beside, in the same run: (a) the same query on the SQLite
// connector in-process and (b) a raw NATS request-reply echo through the same hub and a leaf (creds and leafnode
// TLS, as the agents have) and (c) HTTPS /health of the same facade, and the CPU each process on each path spends
// per query (/proc/<pid>/stat before and after each phase). Every HTTP path uses one client: an undici Agent with
// keep-alive connections and pipelining (BENCH_CONNECTIONS x BENCH_PIPELINING, default 16 x 4 = the 64 in flight).
// Prints figures and ratios; no pass/fail.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { createLogger } from '@halo/log';
import { connectNats } from '@halo/messaging';
import { openConnector } from '@halo/pms';
import type { Dispatcher } from 'undici';
import { launchLeaf } from '@halo/testkit';
import { startDemo } from '@halo/demo';
import { demoAccess } from './demo-access.ts';
import { fmt, sequential, throughput, type LatencyFigures } from './stats.ts';
import { cpuLine, natsServerChildren, sqliteWorkers, startCpu, type ProcessRoles } from './proc.ts';
import { hubMessages, messagesLine, type MessageCounts } from './hub-messages.ts';

const N = Number(process.env.BENCH_N ?? 500);
const TOTAL = Number(process.env.BENCH_TOTAL ?? 3000);
const IN_FLIGHT = 64;
const WARM = Number(process.env.BENCH_WARM ?? 1500);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 16);
const PIPELINING = Number(process.env.BENCH_PIPELINING ?? 4);
const log = createLogger({ name: 'bench', level: 'silent' });

const dataDir = mkdtempSync(join(tmpdir(), 'halo-bench-'));
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
  const call = async (options: Omit<Dispatcher.RequestOptions, 'origin'>) => {
    const res = await dispatcher.request({ origin, idempotent: true, ...options });
    if (res.statusCode !== 200) throw new Error(`facade answered ${res.statusCode}: ${await res.body.text()}`);
    await res.body.arrayBuffer();
  };
  const viaFacade = () => call({ path: `/integrator/sites/${site.haloGuid}/queries/immediate`, method: 'POST', headers, body });

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
  };

  const results: Array<{ name: string; lat: LatencyFigures; tput: number; cpuSeq: Record<string, number>; cpuTput: Record<string, number>; msgs: [MessageCounts, MessageCounts] }> = [];
  for (const [name, op] of [['facade path', viaFacade], ['(a) sqlite in-process', direct], ['(b) nats echo via leaf', echo], ['(c) http /health', health]] as const) {
    await op(); // the first call of a path may wait for interest to cross the leaf; not measured
    // Measured warm, as a running deployment is: the JIT has compiled the path, and the agent has the SQLite
    // workers its slots use under load (each a process whose start-up costs ~0.5 s of CPU). Without this the
    // first path measured paid for the demo's start-up too.
    await throughput(op, WARM, IN_FLIGHT);
    const msgsBefore = await hubMessages(demo.hub.monitorUrl);
    let cpu = startCpu(roles[name]!);
    const lat = await sequential(op, N);
    const cpuSeq = cpu.stop();
    const msgsAfter = await hubMessages(demo.hub.monitorUrl);
    cpu = startCpu(roles[name]!);
    const tput = await throughput(op, TOTAL, IN_FLIGHT);
    const cpuTput = cpu.stop();
    results.push({ name, lat, tput, cpuSeq, cpuTput, msgs: [msgsBefore, msgsAfter] });
  }

  console.log(`relay benchmark: one-row immediate query; after ${WARM} unmeasured with ${IN_FLIGHT} in flight, ${N} sequential, ${TOTAL} with ${IN_FLIGHT} in flight; HTTP client: undici, ${CONNECTIONS} keep-alive connections x pipelining ${PIPELINING}; node ${process.version}`);
  console.log('path                       p50 ms   p99 ms   mean ms   req/s (64 in flight)');
  for (const { name, lat, tput } of results) {
    console.log(`${name.padEnd(26)} ${fmt(lat.p50).padStart(7)}  ${fmt(lat.p99).padStart(7)}  ${fmt(lat.mean).padStart(8)}   ${fmt(tput, 0).padStart(8)}`);
  }
  const warm = Math.ceil(N / 10); // sequential() runs this many unmeasured first, inside the CPU phase
  console.log('CPU per query of each process on the path (/proc/<pid>/stat utime+stime; sequential phase incl. its warm-up, then the 64-in-flight phase):');
  for (const { name, cpuSeq, cpuTput } of results) {
    console.log(`${name}`);
    console.log(`  sequential    ${cpuLine('query', cpuSeq, N + warm)}`);
    console.log(`  64 in flight  ${cpuLine('query', cpuTput, TOTAL)}`);
  }
  // Every message the hub carried in the sequential phase (its warm-up included), background traffic too
  // (heartbeats, KV watches): the facade path's count per query shows what one query costs in messages.
  console.log('NATS messages per query through the hub (/connz of its monitoring port; sequential phase incl. its warm-up):');
  for (const { name, msgs } of results.slice(0, 3)) console.log(`  ${name.padEnd(24)} ${messagesLine(msgs[0], msgs[1], N + warm)}`);
  const [path, a, b, c] = results as [typeof results[0], typeof results[0], typeof results[0], typeof results[0]];
  const base = a.lat.p50 + b.lat.p50;
  console.log(`ratio p50 facade / ((a)+(b)): ${fmt(path.lat.p50 / base)}x (aim: <= 2x)`);
  console.log(`ratio p99 facade / ((a)+(b)): ${fmt(path.lat.p99 / (a.lat.p99 + b.lat.p99))}x`);
  console.log(`ratio p50 facade / ((a)+(b)+(c)): ${fmt(path.lat.p50 / (base + c.lat.p50))}x (what the relay adds beyond its three unavoidable parts)`);
  console.log(`throughput with ${IN_FLIGHT} in flight facade / (c) /health: ${fmt(path.tput / c.tput)}x (aim: >= 0.5x)`);
  console.log(`throughput facade / (a): ${fmt(path.tput / a.tput)}x, facade / (b): ${fmt(path.tput / b.tput)}x`);
} finally {
  for (const fn of cleanups.reverse()) await fn().catch((err: unknown) => console.error(err));
}
