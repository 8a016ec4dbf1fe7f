// npm run bench:relay — latency and throughput of a one-row immediate query through the facade (HTTPS ->
// facade -> hub -> leaf -> agent -> SQLite and back), beside, in the same run: (a) the same query on the SQLite
// connector in-process and (b) a raw NATS request-reply echo through the same hub and a leaf (creds and leafnode
// TLS, as the agents have). Prints figures and ratios; no pass/fail.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { createLogger } from '@halo/log';
import { connectNats } from '@halo/messaging';
import { openConnector } from '@halo/pms';
import { launchLeaf } from '@halo/testkit';
import { startDemo } from '@halo/demo';
import { demoAccess } from './demo-access.ts';
import { fmt, sequential, throughput, type LatencyFigures } from './stats.ts';

const N = Number(process.env.BENCH_N ?? 500);
const TOTAL = Number(process.env.BENCH_TOTAL ?? 3000);
const IN_FLIGHT = 64;
const log = createLogger({ name: 'bench', level: 'silent' });

const dataDir = mkdtempSync(join(tmpdir(), 'halo-bench-'));
const demo = await startDemo({ dataDir, httpPort: 0 });
// The facade serves HTTPS with a certificate of the demo's CA; NATS needs creds (operator/JWT mode).
const access = demoAccess(demo);
const { dispatcher } = access;
const cleanups: Array<() => Promise<unknown>> = [
  async () => demo.close(), async () => rmSync(dataDir, { recursive: true, force: true }), () => dispatcher.close(),
];
try {
  const site = demo.sites.find((s) => s.authoritative)!;
  const dbPath = demo.databases.find((d) => d.haloGuid === site.haloGuid)!.path;
  const text = 'SELECT PatNum, LName, FName, Birthdate FROM patient WHERE PatNum = @patNum';
  const body = JSON.stringify({ command: { text, parameters: [{ name: '@patNum', type: 'Int', value: '42' }] } });
  const url = `${demo.facadeUrl}/integrator/sites/${site.haloGuid}/queries/immediate`;
  const headers = { 'content-type': 'application/json', 'ocp-apim-subscription-key': demo.subscriptionKey };
  const viaFacade = async () => {
    const res = await fetch(url, { method: 'POST', headers, body, dispatcher });
    if (res.status !== 200) throw new Error(`facade answered ${res.status}: ${await res.text()}`);
    await res.arrayBuffer();
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

  // (c), for the breakdown only: an HTTP round trip to the same facade that does no work.
  const health = async () => {
    const res = await fetch(`${demo.facadeUrl}/health`, { dispatcher });
    await res.arrayBuffer();
  };

  const results: Array<[string, LatencyFigures, number]> = [];
  for (const [name, op] of [['facade path', viaFacade], ['(a) sqlite in-process', direct], ['(b) nats echo via leaf', echo], ['(c) http /health', health]] as const) {
    const lat = await sequential(op, N);
    const tput = await throughput(op, TOTAL, IN_FLIGHT);
    results.push([name, lat, tput]);
  }

  console.log(`relay benchmark: one-row immediate query; ${N} sequential, ${TOTAL} with ${IN_FLIGHT} in flight; node ${process.version}`);
  console.log('path                       p50 ms   p99 ms   mean ms   req/s (64 in flight)');
  for (const [name, lat, tput] of results) {
    console.log(`${name.padEnd(26)} ${fmt(lat.p50).padStart(7)}  ${fmt(lat.p99).padStart(7)}  ${fmt(lat.mean).padStart(8)}   ${fmt(tput, 0).padStart(8)}`);
  }
  const [path, a, b, c] = results as [typeof results[0], typeof results[0], typeof results[0], typeof results[0]];
  const base = a[1].p50 + b[1].p50;
  console.log(`ratio p50 facade / ((a)+(b)): ${fmt(path[1].p50 / base)}x (aim: within 3x)`);
  console.log(`ratio p99 facade / ((a)+(b)): ${fmt(path[1].p99 / (a[1].p99 + b[1].p99))}x`);
  console.log(`ratio p50 facade / ((a)+(b)+(c)): ${fmt(path[1].p50 / (base + c[1].p50))}x (what the relay adds beyond its three unavoidable parts)`);
  console.log(`throughput facade / (a): ${fmt(path[2] / a[2])}x, facade / (b): ${fmt(path[2] / b[2])}x`);
} finally {
  for (const fn of cleanups.reverse()) await fn().catch((err: unknown) => console.error(err));
}
