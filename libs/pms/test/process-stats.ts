// Linux /proc readings of the SQLite worker processes a test's connectors start.
import { existsSync, readdirSync, readFileSync } from 'node:fs';

function status(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return undefined;
  }
}

/** Pids of this process's live SQLite workers. */
export function workerPids(): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    const text = status(pid);
    if (text === undefined || /^PPid:\s+(\d+)$/m.exec(text)?.[1] !== String(process.pid)) continue;
    if (/^State:\s+Z/m.test(text)) continue;
    try {
      if (readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('sqlite-worker')) pids.push(pid);
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

/** The one live SQLite worker of this process. */
export function onlyWorkerPid(): number {
  const pids = workerPids();
  if (pids.length !== 1) throw new Error(`expected one SQLite worker, found ${pids.length}`);
  return pids[0] as number;
}

/** Resident set size of a process in bytes. */
export function residentBytes(pid: number): number {
  const kib = /^VmRSS:\s+(\d+) kB$/m.exec(status(pid) ?? '')?.[1];
  if (kib === undefined) throw new Error(`no VmRSS for ${pid}`);
  return Number(kib) * 1024;
}

/** CPU time (user + system) a process has used, in clock ticks. */
export function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the parenthesised command name; utime and stime are fields 14 and 15 of the whole line.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]);
}

/** True while the process exists (and is not a zombie). */
export function isRunning(pid: number): boolean {
  if (!existsSync(`/proc/${pid}`)) return false;
  return !/^State:\s+Z/m.test(status(pid) ?? 'State: Z');
}
