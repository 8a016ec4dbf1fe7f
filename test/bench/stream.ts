// npm run bench:stream — MB/s and peak RSS of the facade and the agent for 10, 100 and 500 MB results streamed
// as NDJSON through the real system (separate processes), beside a raw NATS chunk transfer through the same hub
// and a leaf (creds, leafnode TLS) with the same chunk size and credit window, in the same run. Prints figures
// and ratios; no pass/fail.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { PROTOCOL_LIMITS } from '@halo/contracts';
import { createLogger } from '@halo/log';
import { connectNats, type NatsConnection } from '@halo/messaging';
import { launchLeaf } from '@halo/testkit';
import { startDemo } from '@halo/demo';
import { demoAccess } from './demo-access.ts';
import { fmt } from './stats.ts';
import { currentRss, peakRss, resetPeakRss } from './proc.ts';

const SIZES_MB = (process.env.BENCH_SIZES ?? '10,100,500').split(',').map(Number);
const ROW_BYTES = 227; // one NDJSON line of {"i":n,"pad":"<200 hex chars>"}
const CHUNK = PROTOCOL_LIMITS.defaultChunkBytes;
const WINDOW = PROTOCOL_LIMITS.defaultWindow;
const log = createLogger({ name: 'bench', level: 'silent' });
const MB = 1024 * 1024;

const dataDir = mkdtempSync(join(tmpdir(), 'halo-bench-stream-'));
const demo = await startDemo({ dataDir, httpPort: 0 });
// The facade serves HTTPS with a certificate of the demo's CA; NATS needs creds (operator/JWT mode).
const access = demoAccess(demo);
const { dispatcher } = access;
const cleanups: Array<() => Promise<unknown>> = [
  async () => demo.close(), async () => rmSync(dataDir, { recursive: true, force: true }), () => dispatcher.close(),
];

/** Streams `rows` rows as NDJSON through the facade; returns bytes received and seconds taken. */
async function viaFacade(siteId: string, rows: number): Promise<{ bytes: number; seconds: number }> {
  const body = JSON.stringify({
    command: {
      // hex(randomblob) is about as compressible as real text columns, unlike a run of zeros.
      text: 'WITH RECURSIVE seq(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM seq WHERE i < @n) SELECT i, hex(randomblob(100)) AS pad FROM seq',
      parameters: [{ name: '@n', type: 'BigInt', value: String(rows) }],
    },
  });
  const t0 = performance.now();
  const res = await fetch(`${demo.facadeUrl}/integrator/sites/${siteId}/queries/immediate`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/x-ndjson', 'ocp-apim-subscription-key': demo.subscriptionKey },
    body,
    dispatcher,
  });
  if (res.status !== 200) throw new Error(`facade answered ${res.status}: ${await res.text()}`);
  let bytes = 0;
  for await (const chunk of res.body!) bytes += (chunk as Uint8Array).byteLength;
  return { bytes, seconds: (performance.now() - t0) / 1000 };
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

try {
  const site = demo.sites.find((s) => s.authoritative && demo.databases.some((d) => d.haloGuid === s.haloGuid && d.linkGuid === demo.databases[0]!.linkGuid))!;
  const facadePid = demo.processes.facade!;
  const agentPid = demo.processes['agent-1']!;
  const leaf = await launchLeaf(demo.hub.leafUrl, { secure: { credsFile: access.credsFile, caFile: access.caFile } });
  cleanups.push(() => leaf.close());
  const sender = await connectNats({ servers: leaf.clientUrl, name: 'bench-raw-sender', log });
  const receiver = await connectNats({ servers: demo.hub.clientUrl, name: 'bench-raw-receiver', log, credsFile: access.credsFile });
  cleanups.push(() => sender.close(), () => receiver.close());
  await viaFacade(site.haloGuid, 20_000); // warm-up

  console.log(`stream benchmark: NDJSON through facade and agent (separate processes) vs raw NATS chunks (${CHUNK / 1024} KiB, window ${WINDOW}) via the same hub and a leaf; node ${process.version}`);
  console.log('size     path MB/s   raw MB/s   ratio   facade RSS peak (+growth)   agent RSS peak (+growth)');
  for (const sizeMb of SIZES_MB) {
    const rows = Math.round((sizeMb * MB) / ROW_BYTES);
    const base = { facade: currentRss(facadePid), agent: currentRss(agentPid) };
    const resetOk = resetPeakRss(facadePid) && resetPeakRss(agentPid);
    const path = await viaFacade(site.haloGuid, rows);
    const peak = { facade: peakRss(facadePid), agent: peakRss(agentPid) };
    const raw = await rawTransfer(sender, receiver, path.bytes);
    const pathRate = path.bytes / MB / path.seconds;
    const rawRate = raw.bytes / MB / raw.seconds;
    const mem = (p: number, b: number) => `${fmt(p / MB, 0)} MB (+${fmt((p - b) / MB, 0)} MB)`;
    console.log(
      `${`${fmt(path.bytes / MB, 0)} MB`.padEnd(8)} ${fmt(pathRate, 1).padStart(9)}  ${fmt(rawRate, 1).padStart(9)}  ${fmt(pathRate / rawRate).padStart(6)}   ${mem(peak.facade, base.facade).padEnd(26)}  ${mem(peak.agent, base.agent)}${resetOk ? '' : '  (peak since process start: clear_refs not permitted)'}`,
    );
  }
  console.log('aim: path at least half the raw throughput; RSS growth under 64 MB whatever the size (SQLite runs in a child of the agent, not counted)');
} finally {
  for (const fn of cleanups.reverse()) await fn().catch((err: unknown) => console.error(err));
}
