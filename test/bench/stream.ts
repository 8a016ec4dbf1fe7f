// npm run bench:stream — MB/s and peak RSS of the facade and the agent for 10, 100 and 500 MB results streamed
// as NDJSON through the real system (separate processes), beside a raw NATS chunk transfer through the same hub
// and a leaf (creds, leafnode TLS) with the same chunk size and credit window, in the same run, with the CPU each
// process on each path spends per MB (/proc/<pid>/stat before and after each transfer). Then BENCH_CONCURRENT
// (default 16) NDJSON streams of BENCH_CONCURRENT_MB (default 100) MB at once on one site: aggregate MB/s and how
// fairly the streams share it. Prints figures and ratios; no pass/fail.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { PROTOCOL_LIMITS } from '@halo/contracts';
import { createLogger } from '@halo/log';
import { connectNats, type NatsConnection } from '@halo/messaging';
import { launchLeaf } from '@halo/testkit';
import { startDemo } from '@halo/demo';
import { loadSecureSetup } from '@halo/nats-auth';
import { demoAccess } from './demo-access.ts';
import { startFloorRelay, type FloorStreamRequest } from './floor-relay.ts';
import { fmt } from './stats.ts';
import { cpuLine, currentRss, natsServerChildren, peakRss, resetPeakRss, sqliteWorkers, startCpu, type ProcessRoles } from './proc.ts';

const SIZES_MB = (process.env.BENCH_SIZES ?? '10,100,500').split(',').map(Number);
const CONCURRENT = Number(process.env.BENCH_CONCURRENT ?? 16);
const CONCURRENT_MB = Number(process.env.BENCH_CONCURRENT_MB ?? 100);
const ROW_BYTES = 227; // one NDJSON line of {"i":n,"pad":"<200 hex chars>"}
const CHUNK = PROTOCOL_LIMITS.defaultChunkBytes;
const WINDOW = PROTOCOL_LIMITS.defaultWindow;
const log = createLogger({ name: 'bench', level: 'silent' });
const MB = 1024 * 1024;

const dataDir = mkdtempSync(join(tmpdir(), 'halo-bench-stream-'));
// 16 streams of 100 MB share the path for longer than an immediate query's default 30 s (plus its time in the
// queue): the demo's facade gets 10 minutes, so the bench measures bandwidth, not the timeout.
process.env.HALO_QUERY_TIMEOUT_MS ??= '600000';
process.env.HALO_HTTP_IDLE_TIMEOUT_SECONDS ??= '700';
const restarted: string[] = [];
const demo = await startDemo({
  dataDir, httpPort: 0,
  progress: (message) => { if (/ is back \(/.test(message)) restarted.push(message); },
  // The one restart the bench causes (see raiseConcurrency) is no news; anything else is.
  onUnexpectedExit: (exit) => { if (!(exit.name === 'agent-1' && exit.signal === 'SIGKILL' && exit.action === 'restart')) console.error(`demo: ${exit.name} exited (${exit.code ?? exit.signal}), ${exit.action}`); },
});
// The facade serves HTTPS with a certificate of the demo's CA; NATS needs creds (operator/JWT mode).
const access = demoAccess(demo);
const { dispatcher } = access;
const cleanups: Array<() => Promise<unknown>> = [
  async () => demo.close(), async () => rmSync(dataDir, { recursive: true, force: true }), () => dispatcher.close(),
];

// hex(randomblob) is about as compressible as real text columns, unlike a run of zeros.
const STREAM_TEXT = 'WITH RECURSIVE seq(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM seq WHERE i < @n) SELECT i, hex(randomblob(100)) AS pad FROM seq';

/** Reads an HTTP answer's body; returns bytes received and seconds since t0. */
async function drain(res: Response, t0: number): Promise<{ bytes: number; seconds: number }> {
  if (res.status !== 200) throw new Error(`answered ${res.status}: ${await res.text()}`);
  let bytes = 0;
  for await (const chunk of res.body!) bytes += (chunk as Uint8Array).byteLength;
  return { bytes, seconds: (performance.now() - t0) / 1000 };
}

/** Streams `rows` rows as NDJSON through the facade; returns bytes received and seconds taken. */
async function viaFacade(siteId: string, rows: number): Promise<{ bytes: number; seconds: number }> {
  const body = JSON.stringify({ command: { text: STREAM_TEXT, parameters: [{ name: '@n', type: 'BigInt', value: String(rows) }] } });
  const t0 = performance.now();
  const res = await fetch(`${demo.facadeUrl}/integrator/sites/${siteId}/queries/immediate`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/x-ndjson', 'ocp-apim-subscription-key': demo.subscriptionKey },
    body,
    dispatcher,
  });
  return drain(res, t0);
}

/** The same rows through the architecture's floor (floor-relay.ts): bare processes doing nothing but relay them. */
async function viaFloor(url: string, rows: number, encoding: 'js' | 'sqlite'): Promise<{ bytes: number; seconds: number }> {
  const t0 = performance.now();
  const request: FloorStreamRequest = { source: 'sqlite', encoding, parameters: [rows] };
  return drain(await fetch(`${url}/stream`, { method: 'POST', body: JSON.stringify(request), dispatcher }), t0);
}

/** A raw credit-windowed transfer of `total` bytes in CHUNK-sized messages from a leaf client to a hub client. */
async function rawTransfer(sender: NatsConnection, receiver: NatsConnection, total: number): Promise<{ bytes: number; seconds: number }> {
  const id = randomUUID();
  const data = `bench.raw.${id}`;
  const acks = `bench.ack.${id}`;
  const chunks = Math.ceil(total / CHUNK);
  const payload = new Uint8Array(CHUNK).fill(97);
  let credit = 0;
  let wake: (() => void) | undefined;
  const ackSub = sender.subscribe(acks, { callback: (_e, m) => { credit = Number(new TextDecoder().decode(m.data)); wake?.(); } });
  await sender.flush();
  let received = 0;
  let lastCredit = 0;
  const done = new Promise<void>((resolve) => {
    receiver.subscribe(data, {
      max: chunks,
      callback: (_e, m) => {
        received++;
        if (received - lastCredit >= WINDOW / 2 || received === chunks) {
          lastCredit = received;
          receiver.publish(acks, String(received));
        }
        if (received === chunks) resolve();
        void m;
      },
    });
  });
  await receiver.flush();
  await new Promise((r) => setTimeout(r, 200)); // let interest cross the leaf
  const t0 = performance.now();
  for (let seq = 1; seq <= chunks; seq++) {
    while (seq - credit > WINDOW) await new Promise<void>((r) => { wake = r; });
    sender.publish(data, payload);
  }
  await done;
  const seconds = (performance.now() - t0) / 1000;
  ackSub.unsubscribe();
  return { bytes: chunks * CHUNK, seconds };
}

/** Bytes per second of a set of NDJSON streams run at once, and how evenly they share the path. */
function fairness(rates: number[]): { slowest: number; fastest: number; jain: number } {
  const sum = rates.reduce((a, b) => a + b, 0);
  const squares = rates.reduce((a, b) => a + b * b, 0);
  return { slowest: Math.min(...rates), fastest: Math.max(...rates), jain: (sum * sum) / (rates.length * squares) };
}

/**
 * Lets `concurrency` statements run at once on the agent-1 database `dbName`. A demo site runs 4 (the agent's
 * default maxConcurrency) and queues the rest, and the demo's three sites give 12 in all: 16 streams would then
 * measure the queue, not how the relay shares its bandwidth. The demo rewrites each agent's config file on every
 * start and has no reload, so the bench edits the file the running agent-1 was started with and kills it; the
 * demo's supervisor starts it again (same state directory: same Link and Halo GUIDs) with the edited file.
 */
async function raiseConcurrency(dbName: string, concurrency: number, siteId: string): Promise<void> {
  const file = join(dataDir, 'agents', 'link-1.json');
  const config = JSON.parse(readFileSync(file, 'utf8')) as { databases: Array<{ name: string; maxConcurrency?: number }> };
  const entry = config.databases.find((db) => db.name === dbName);
  if (!entry) throw new Error(`agent-1's config has no database ${dbName}`);
  entry.maxConcurrency = concurrency;
  writeFileSync(file, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
  const before = restarted.length;
  process.kill(demo.processes['agent-1']!, 'SIGKILL');
  for (const until = Date.now() + 60_000; restarted.length === before; await new Promise((r) => setTimeout(r, 100))) {
    if (Date.now() > until) throw new Error('agent-1 did not come back within 60 s');
  }
  // Back means the agent is ready; the facade may still route to the old link's subjects for a moment.
  for (let attempt = 0; ; attempt++) {
    try {
      await viaFacade(siteId, 10);
      return;
    } catch (err) {
      if (attempt > 100) throw err;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

try {
  const site = demo.sites.find((s) => s.authoritative && demo.databases.some((d) => d.haloGuid === s.haloGuid && d.linkGuid === demo.databases[0]!.linkGuid))!;
  const facadePid = demo.processes.facade!;
  const agentPid = demo.processes['agent-1']!;
  const dbName = demo.databases.find((d) => d.haloGuid === site.haloGuid)!.name;
  const leaf = await launchLeaf(demo.hub.leafUrl, { secure: { credsFile: access.credsFile, caFile: access.caFile } });
  cleanups.push(() => leaf.close());
  const sender = await connectNats({ servers: leaf.clientUrl, name: 'bench-raw-sender', log });
  const receiver = await connectNats({ servers: demo.hub.clientUrl, name: 'bench-raw-receiver', log, credsFile: access.credsFile });
  cleanups.push(() => sender.close(), () => receiver.close());
  const tls = loadSecureSetup(demo.secretsDir).tls;
  const floor = await startFloorRelay({
    hubUrl: demo.hub.clientUrl, leafClientUrl: leaf.clientUrl, credsFile: access.credsFile, tls,
    dbPath: demo.databases.find((d) => d.haloGuid === site.haloGuid)!.path, text: 'SELECT 1', stream: { text: STREAM_TEXT, chunkBytes: CHUNK, window: WINDOW },
  });
  cleanups.push(() => floor.close());
  await viaFacade(site.haloGuid, 20_000); // warm-up
  await viaFloor(floor.url, 20_000, 'js');
  await viaFloor(floor.url, 20_000, 'sqlite');

  // Who does the work on each path, found afresh at each sample: agent 1 serves the site, its leaf nats-server and
  // SQLite workers are its children, the hub's nats-server a child of the demo's hub process; "bench" is this
  // process (the HTTP client, or both ends of the raw transfer).
  const pid = (name: string) => () => [demo.processes[name]!];
  const self = () => [process.pid];
  const hub = () => natsServerChildren(demo.processes.hub!);
  const pathRoles: ProcessRoles = {
    facade: pid('facade'), hub, leaf: () => natsServerChildren(demo.processes['agent-1']!), agent: pid('agent-1'),
    'db child': () => sqliteWorkers(demo.processes['agent-1']!), bench: self,
  };
  const rawRoles: ProcessRoles = { hub, leaf: () => [leaf.server.pid!], bench: self };
  const floorRoles: ProcessRoles = { facade: () => [floor.pids.facade], hub, leaf: () => [leaf.server.pid!], agent: () => [floor.pids.agent], bench: self };
  const cpuLines: string[] = [];

  console.log(`stream benchmark: NDJSON through facade and agent (separate processes) vs raw NATS chunks (${CHUNK / 1024} KiB, window ${WINDOW}) via the same hub and a leaf; node ${process.version}`);
  console.log('size     path MB/s   raw MB/s   ratio   floor/raw: js  sqlite   facade RSS peak (+growth)   agent RSS peak (+growth)');
  for (const sizeMb of SIZES_MB) {
    const rows = Math.round((sizeMb * MB) / ROW_BYTES);
    const base = { facade: currentRss(facadePid), agent: currentRss(agentPid) };
    const resetOk = resetPeakRss(facadePid) && resetPeakRss(agentPid);
    let cpu = startCpu(pathRoles);
    const path = await viaFacade(site.haloGuid, rows);
    const pathCpu = cpu.stop();
    const peak = { facade: peakRss(facadePid), agent: peakRss(agentPid) };
    cpu = startCpu(rawRoles);
    const raw = await rawTransfer(sender, receiver, path.bytes);
    const rawCpu = cpu.stop();
    const pathRate = path.bytes / MB / path.seconds;
    const rawRate = raw.bytes / MB / raw.seconds;
    const floors = [];
    for (const encoding of ['js', 'sqlite'] as const) {
      cpu = startCpu(floorRoles);
      const floored = await viaFloor(floor.url, rows, encoding);
      floors.push({ encoding, ...floored, cpu: cpu.stop() });
    }
    const mb = (bytes: number) => `${fmt(bytes / MB, 0)} MB`.padEnd(7);
    cpuLines.push(
      `${mb(path.bytes)} path          ${cpuLine('MB', pathCpu, path.bytes / MB)}`, `${mb(raw.bytes)} raw           ${cpuLine('MB', rawCpu, raw.bytes / MB)}`,
      ...floors.map((f) => `${mb(f.bytes)} floor ${f.encoding.padEnd(6)}  ${cpuLine('MB', f.cpu, f.bytes / MB)}`),
    );
    const floorRatios = floors.map((f) => fmt(f.bytes / MB / f.seconds / rawRate).padStart(6)).join('  ');
    const mem = (p: number, b: number) => `${fmt(p / MB, 0)} MB (+${fmt((p - b) / MB, 0)} MB)`;
    console.log(
      `${`${fmt(path.bytes / MB, 0)} MB`.padEnd(8)} ${fmt(pathRate, 1).padStart(9)}  ${fmt(rawRate, 1).padStart(9)}  ${fmt(pathRate / rawRate).padStart(6)}      ${floorRatios}   ${mem(peak.facade, base.facade).padEnd(26)}  ${mem(peak.agent, base.agent)}${resetOk ? '' : '  (peak since process start: clear_refs not permitted)'}`,
    );
  }
  console.log('floor: the same rows through bare processes of the same shape that do nothing but relay them (floor-relay.ts), encoded in JS or by SQLite (json_object)');
  console.log('aim: path / raw >= 0.6x; RSS growth of facade and agent under 64 MB whatever the size (SQLite runs in a child of the agent, not counted)');
  console.log('CPU per MB of each process on the path (/proc/<pid>/stat utime+stime over the transfer):');
  for (const line of cpuLines) console.log(`  ${line}`);

  if (CONCURRENT > 0) {
    await raiseConcurrency(dbName, CONCURRENT, site.haloGuid);
    const rows = Math.round((CONCURRENT_MB * MB) / ROW_BYTES);
    await viaFacade(site.haloGuid, 20_000); // warm-up of the restarted agent
    const facade = demo.processes.facade!;
    const agent = demo.processes['agent-1']!;
    const base = { facade: currentRss(facade), agent: currentRss(agent) };
    const resetOk = resetPeakRss(facade) && resetPeakRss(agent);
    const cpu = startCpu(pathRoles);
    const t0 = performance.now();
    const settled = await Promise.allSettled(Array.from({ length: CONCURRENT }, () => viaFacade(site.haloGuid, rows)));
    const seconds = (performance.now() - t0) / 1000;
    const streams = settled.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    const failed = settled.flatMap((r) => (r.status === 'rejected' ? [r.reason instanceof Error ? r.reason.message : String(r.reason)] : []));
    if (failed.length > 0) console.log(`  ${failed.length} of ${CONCURRENT} streams failed (${[...new Set(failed)].join('; ')}); the figures below are of the others`);
    const used = cpu.stop();
    const peak = { facade: peakRss(facade), agent: peakRss(agent) };
    const total = streams.reduce((a, s) => a + s.bytes, 0);
    const { slowest, fastest, jain } = fairness(streams.map((s) => s.bytes / MB / s.seconds));
    console.log(`${CONCURRENT} concurrent NDJSON streams of ${CONCURRENT_MB} MB on one site (agent-1 restarted with maxConcurrency ${CONCURRENT} for it):`);
    console.log(`  aggregate ${fmt(total / MB / seconds, 1)} MB/s (${fmt(total / MB, 0)} MB in ${fmt(seconds, 1)} s); per stream slowest ${fmt(slowest, 1)} MB/s, fastest ${fmt(fastest, 1)} MB/s, slowest/fastest ${fmt(slowest / fastest)}, Jain's fairness index ${fmt(jain, 3)} (1 = all equal)`);
    console.log(`  RSS peak facade ${fmt(peak.facade / MB, 0)} MB (+${fmt((peak.facade - base.facade) / MB, 0)} MB), agent ${fmt(peak.agent / MB, 0)} MB (+${fmt((peak.agent - base.agent) / MB, 0)} MB)${resetOk ? '' : '  (peak since process start: clear_refs not permitted)'}`);
    console.log(`  ${cpuLine('MB', used, total / MB)}`);
  }
} finally {
  for (const fn of cleanups.reverse()) await fn().catch((err: unknown) => console.error(err));
}
