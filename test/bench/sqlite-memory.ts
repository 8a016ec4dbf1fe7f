// The issue's memory repro: N concurrent `SELECT length(randomblob(500000000) || randomblob(1))`, one SQLite
// connector (worker process) each, and every worker's peak RSS (VmHWM from Linux /proc, sampled until it exits).
//   node test/bench/sqlite-memory.ts [statements=8] [maxMemoryMiB=256]   (maxMemoryMiB 0 = no limit)
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openConnector } from '@halo/pms';
import { createSampleDatabase } from '@halo/sample-practice';

const statements = Number(process.argv[2] ?? 8);
const limitMiB = Number(process.argv[3] ?? 256);
const path = join(tmpdir(), `halo-sqlite-memory-${process.pid}.db`);
createSampleDatabase(path, { pmsId: 'PMS-1', practiceName: 'Memory bench', patients: 10 });
const limits = limitMiB > 0 ? { maxMemoryBytes: limitMiB * 1024 ** 2 } : {};
const connectors = await Promise.all(Array.from({ length: statements }, () => openConnector({ engine: 'sqlite', path, ...limits })));

const status = (pid: number) => {
  try {
    return readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return '';
  }
};
const peaks = new Map<number, number>();
const timer = setInterval(() => {
  for (const pid of readdirSync('/proc').filter((entry) => /^\d+$/.test(entry)).map(Number)) {
    const text = status(pid);
    if (!text.includes(`PPid:\t${process.pid}\n`)) continue;
    const kib = Number(/VmHWM:\s+(\d+)/.exec(text)?.[1] ?? 0);
    peaks.set(pid, Math.max(peaks.get(pid) ?? 0, kib));
  }
}, 2);
const started = Date.now();
const results = await Promise.allSettled(connectors.map((connector) => connector.query({
  text: 'SELECT length(randomblob(500000000) || randomblob(1)) AS n', parameters: [], executionMode: 'reader', deadline: Date.now() + 300_000,
})));
clearInterval(timer);
const outcomes = results.map((r) => (r.status === 'fulfilled' ? 'ok' : String((r.reason as { code?: unknown }).code)));
const mib = [...peaks.values()].map((kib) => Math.round(kib / 1024));
console.log(`limit ${limitMiB > 0 ? `${limitMiB} MiB` : 'none'}, ${statements} statements in ${Date.now() - started} ms: ${outcomes.join(' ')}`);
console.log(`peak RSS per worker (MiB): ${mib.join(' ')}; sum ${mib.reduce((a, b) => a + b, 0)}`);
await Promise.all(connectors.map((connector) => connector.close()));
rmSync(path, { force: true });
