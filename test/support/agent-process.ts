import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import { projectRoot } from '@halo/config';
import type { AgentConfigInput } from '@halo/agent';

/** A real agent in a child process. */
export interface ProcessAgent {
  /** The agent process (its leaf nats-server and SQLite workers are its children). */
  pid: number;
  linkGuid: string;
  sites: ReadonlyArray<{ name: string; haloGuid: string }>;
  /** Sends a signal to the agent process only (its leaf nats-server is a process of its own and keeps running). */
  signal(signal: 'SIGSTOP' | 'SIGCONT' | 'SIGKILL'): void;
  /** Stops it (SIGKILL, then its leaf by the pid file the leaf left). */
  close(): Promise<void>;
}

/**
 * Starts `services/agent/src/main.ts` as its own process, as a practice server runs it, with a config file in
 * `dir/agents`; resolves at its "agent ready" log line (its stdout is read to the end, so it never blocks on it).
 */
export async function spawnAgentProcess(dir: string, hubLeafUrl: string, name: string, databases: AgentConfigInput['databases']): Promise<ProcessAgent> {
  const stateDir = join(dir, 'agents', name);
  mkdirSync(stateDir, { recursive: true });
  const configPath = join(dir, 'agents', `${name}.json`);
  writeFileSync(configPath, JSON.stringify({ stateDir, hubLeafUrls: [hubLeafUrl], heartbeatSeconds: 1, databases }));
  // HALO_CPU_PROF_DIR (as for npm start's children): a V8 CPU profile, written when it stops.
  const profileDir = process.env.HALO_CPU_PROF_DIR;
  const profile = profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [];
  const child = spawn(process.execPath, [...profile, join(projectRoot(), 'services/agent/src/main.ts')], {
    env: { ...process.env, HALO_AGENT_CONFIG: configPath, HALO_LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  const leafPidFile = join(stateDir, 'leaf', 'leaf.pid');
  const exited = once(child, 'exit');
  const close = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      // A profile is only written by a process that exits by itself.
      if (profileDir) {
        child.kill('SIGTERM');
        await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 10_000).unref())]);
      }
      child.kill('SIGKILL');
      await exited;
    }
    // The leaf outlives a SIGKILLed agent; a restarted agent would stop it too (it checks the pid's command line).
    try {
      process.kill(Number(readFileSync(leafPidFile, 'utf8')), 'SIGKILL');
    } catch {
      // Already gone.
    }
  };
  const lines = createInterface({ input: child.stdout! });
  const ready = new Promise<{ linkGuid: string; sites: Array<{ name: string; haloGuid: string }> }>((resolve, reject) => {
    lines.on('line', (line) => {
      if (line.includes('"agent ready"')) resolve(JSON.parse(line) as { linkGuid: string; sites: Array<{ name: string; haloGuid: string }> });
    });
    void exited.then(() => reject(new Error('the agent process exited before it was ready')));
  });
  const timeout = new Promise<never>((_, reject) => setTimeout(() => reject(new Error('the agent process was not ready in time')), 30_000).unref());
  try {
    const { linkGuid, sites } = await Promise.race([ready, timeout]);
    return {
      pid: child.pid!,
      linkGuid,
      sites: sites.map((s) => ({ name: s.name, haloGuid: s.haloGuid })),
      signal: (signal) => {
        child.kill(signal);
      },
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}
