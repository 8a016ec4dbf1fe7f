import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { SQLITE_WORKER_FLAG } from '@halo/pms';

/** Peak resident set size of a process in bytes (Linux VmHWM). */
export function peakRss(pid: number): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : NaN;
}

/** Current resident set size of a process in bytes (Linux VmRSS). */
export function currentRss(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : NaN;
}

/** Resets a process's peak RSS to its current RSS (Linux clear_refs 5; needs the same user or root). */
export function resetPeakRss(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

/** Clock ticks per second of /proc/<pid>/stat times (`getconf CLK_TCK`); 100 on every Linux the benches run on. */
export const CLK_TCK = clockTicks();

function clockTicks(): number {
  try {
    const ticks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
    return Number.isFinite(ticks) && ticks > 0 ? ticks : 100;
  } catch {
    return 100;
  }
}

/** CPU time a process has used so far, user + system, in milliseconds (/proc/<pid>/stat utime + stime); NaN once it is gone. */
export function cpuMs(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name, which is in parentheses and may hold spaces: state is field 3, utime 14, stime 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLK_TCK;
  } catch {
    return NaN;
  }
}

/** Pids of a process's direct children (/proc/<pid>/task/<tid>/children of every thread). */
export function childPids(pid: number): number[] {
  const pids: number[] = [];
  let tasks: string[] = [];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return pids;
  }
  for (const tid of tasks) {
    try {
      for (const child of readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').trim().split(/\s+/)) {
        if (child) pids.push(Number(child));
      }
    } catch {
      // the thread ended while we looked
    }
  }
  return pids;
}

/** The command line of a process, arguments joined by spaces ('' once it is gone). */
export function cmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
  } catch {
    return '';
  }
}

/** Direct children of `pid` that run nats-server (its own binary, or through setpriv, which execs in place). */
export function natsServerChildren(pid: number): number[] {
  return childPids(pid).filter((child) => /(^|\/)nats-server(\s|$)/.test(cmdline(child)));
}

/** Direct children of `pid` that are SQLite workers of @halo/pms (a connector keeps one per running statement). */
export function sqliteWorkers(pid: number): number[] {
  return childPids(pid).filter((child) => cmdline(child).split(' ').includes(SQLITE_WORKER_FLAG));
}

/**
 * The processes of one path, by role: each role is a function giving its pids now, since some come and go while
 * a phase runs (the agent starts a SQLite worker per statement and keeps a few).
 */
export type ProcessRoles = Record<string, () => number[]>;

/** CPU milliseconds each role used during a phase; a role whose processes came and went counts what was seen. */
export interface CpuSample {
  stop(): Record<string, number>;
}

/**
 * Starts measuring the CPU time of each role's processes. A process that starts during the phase is counted
 * from zero (it did all its work inside the phase); one that exits during it is counted up to its last sight,
 * which `poll` (every `pollMs`) keeps close to its end.
 */
export function startCpu(roles: ProcessRoles, pollMs = 200): CpuSample {
  const first = new Map<number, number>();
  const last = new Map<number, number>();
  const roleOf = new Map<number, string>();
  const look = (initial: boolean) => {
    for (const [role, pids] of Object.entries(roles)) {
      for (const pid of pids()) {
        const ms = cpuMs(pid);
        if (!Number.isFinite(ms)) continue;
        if (!first.has(pid)) first.set(pid, initial ? ms : 0);
        last.set(pid, ms);
        roleOf.set(pid, role);
      }
    }
  };
  look(true);
  const timer = setInterval(() => look(false), pollMs);
  timer.unref();
  return {
    stop() {
      clearInterval(timer);
      look(false);
      const used: Record<string, number> = Object.fromEntries(Object.keys(roles).map((role) => [role, 0]));
      for (const [pid, role] of roleOf) used[role] = (used[role] ?? 0) + last.get(pid)! - first.get(pid)!;
      return used;
    },
  };
}

/** One line of CPU per unit, e.g. `cpu ms/query  facade 0.42  hub 0.10  leaf 0.08  agent 0.30  db child 0.12`. */
export function cpuLine(unit: string, used: Record<string, number>, units: number): string {
  const parts = Object.entries(used).map(([role, ms]) => `${role} ${(ms / units).toFixed(ms / units >= 10 ? 1 : 2)}`);
  const total = Object.values(used).reduce((a, b) => a + b, 0);
  return `cpu ms/${unit}  ${parts.join('  ')}  | total ${(total / units).toFixed(2)}`;
}

/** Every process whose command name (/proc/<pid>/comm) is one of `names`, whoever owns it (a database server's). */
export function processesNamed(names: readonly string[]): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (names.includes(readFileSync(`/proc/${entry}/comm`, 'utf8').trim())) pids.push(Number(entry));
    } catch {
      // it ended while we looked
    }
  }
  return pids;
}
