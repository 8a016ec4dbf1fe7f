import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import type { Logger } from '@halo/log';
import { findNatsServer } from './binary.ts';

export interface NatsServerOptions {
  /** Full config text (see renderNatsConfig). Ports of -1 are picked by the server and then kept. */
  config: string;
  /** Folder for the config file and the server's log. */
  dir: string;
  name: string;
  log?: Logger;
  /** Restart the server whenever it exits unexpectedly (the agent's leaf). */
  supervise?: boolean;
  /** Milliseconds to wait for "Server is ready". */
  readyTimeoutMs?: number;
  /** Called when the server exits unasked after it was ready (a hub's owner exits so its supervisor restarts it). */
  onUnexpectedExit?: (exit: { code: number | null; signal: NodeJS.Signals | null }) => void;
  /** Called each time the server is ready, the first start and every restart (its pid changes). */
  onReady?: (pid: number | undefined) => void;
}

export interface NatsServerPorts {
  client: number;
  leaf?: number;
}

const LISTEN = /Listening for (client|leafnode) connections on [^\s]*:(\d+)/;

/**
 * Stops a server that a crashed previous owner left running from the same folder. Only a process whose
 * command line names this config file is touched (checked through /proc; elsewhere nothing is killed).
 */
function stopLeftover(pidPath: string, confPath: string, log?: Logger): void {
  let pid: number;
  try {
    pid = Number(readFileSync(pidPath, 'utf8'));
  } catch {
    return;
  }
  if (!Number.isInteger(pid) || pid <= 0) return;
  try {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    if (!cmdline.includes(confPath)) return;
    process.kill(pid, 'SIGKILL');
    log?.warn({ pid }, 'stopped a nats-server left over from a previous run');
  } catch {
    // Not running (or not Linux): nothing to stop.
  }
}

/**
 * On Linux the kernel sends the server SIGTERM when its owner dies, even by SIGKILL (util-linux `setpriv
 * --pdeathsig`, on every Debian/Ubuntu/RHEL), so a crashed agent leaves no leaf behind; the signal follows the
 * thread that spawned the server, which is the owner's main thread. Elsewhere, or without setpriv, the pid file
 * lets the owner's next start stop the leftover.
 */
const SETPRIV = process.platform === 'linux' ? ['/usr/bin/setpriv', '/bin/setpriv'].find((path) => existsSync(path)) : undefined;

function serverCommand(confPath: string): [string, string[]] {
  const binary = findNatsServer();
  return SETPRIV ? [SETPRIV, ['--pdeathsig', 'TERM', '--', binary, '-c', confPath]] : [binary, ['-c', confPath]];
}

/** One nats-server child process: started, optionally restarted when it dies, stopped on close(). */
export class NatsServerProcess {
  readonly name: string;
  private readonly options: NatsServerOptions;
  private child: ChildProcess | undefined;
  private stopping = false;
  private restarts = 0;
  private restartTimer: NodeJS.Timeout | undefined;
  private config: string;
  ports: NatsServerPorts = { client: 0 };

  constructor(options: NatsServerOptions) {
    this.options = options;
    this.name = options.name;
    this.config = options.config;
    mkdirSync(options.dir, { recursive: true });
  }

  /** nats://127.0.0.1:<client port> */
  get clientUrl(): string {
    return `nats://127.0.0.1:${this.ports.client}`;
  }

  get leafUrl(): string {
    if (!this.ports.leaf) throw new Error(`${this.name} has no leafnode listener`);
    return `nats-leaf://127.0.0.1:${this.ports.leaf}`;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get restartCount(): number {
    return this.restarts;
  }

  async start(): Promise<this> {
    await this.launch();
    // Keep the ports the server picked, so restarts come back where clients and leaves expect them.
    this.config = this.config
      .replace(/listen: "127\.0\.0\.1:-1"/, `listen: "127.0.0.1:${this.ports.client}"`)
      .replace(/(leafnodes \{\s*listen: "127\.0\.0\.1:)-1"/, `$1${this.ports.leaf ?? -1}"`);
    return this;
  }

  private async launch(): Promise<void> {
    const confPath = join(this.options.dir, `${this.name}.conf`);
    const pidPath = join(this.options.dir, `${this.name}.pid`);
    stopLeftover(pidPath, confPath, this.options.log);
    writeFileSync(`${confPath}.tmp`, this.config);
    renameSync(`${confPath}.tmp`, confPath);
    const [command, args] = serverCommand(confPath);
    // setpriv execs nats-server in place: the pid is the server's.
    const child = spawn(command, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    this.child = child;
    // The pid file lets a restarted owner stop a server left behind by a crash of its previous run.
    if (child.pid !== undefined) writeFileSync(pidPath, String(child.pid));
    const ports: NatsServerPorts = { client: 0 };
    let output = '';
    const ready = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.name}: nats-server not ready in time:\n${output.slice(-2000)}`)), this.options.readyTimeoutMs ?? 15_000);
      // Line by line: a chunk of stderr may end mid-line, so "Server is ready" can arrive in two pieces.
      createInterface({ input: child.stderr!, crlfDelay: Infinity }).on('line', (line) => {
        if (output.length < 64_000) output += `${line}\n`;
        const m = LISTEN.exec(line);
        if (m) {
          if (m[1] === 'client') ports.client = Number(m[2]);
          else ports.leaf = Number(m[2]);
        }
        if (line.includes('Server is ready')) {
          clearTimeout(timer);
          resolve();
        }
        if (line.includes('[FTL]') || line.includes('[ERR]')) this.options.log?.warn({ server: this.name, line: line.slice(0, 500) }, 'nats-server said');
      });
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`${this.name}: nats-server exited (${code ?? signal}) before it was ready:\n${output.slice(-2000)}`));
      });
      child.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
    });
    try {
      await ready;
    } catch (err) {
      child.kill('SIGKILL');
      throw err;
    }
    this.ports = ports;
    child.once('exit', (code, signal) => this.onExit(child, code, signal));
    this.options.log?.info({ server: this.name, pid: child.pid, ports }, 'nats-server ready');
    this.options.onReady?.(child.pid);
  }

  private onExit(child: ChildProcess, code: number | null, signal: NodeJS.Signals | null): void {
    if (this.child !== child || this.stopping) return;
    this.options.log?.warn({ server: this.name, code, signal }, 'nats-server exited');
    if (this.options.supervise) this.scheduleRestart(0);
    this.options.onUnexpectedExit?.({ code, signal });
  }

  private scheduleRestart(attempt: number): void {
    if (this.stopping) return;
    const delay = Math.min(5_000, 100 * 2 ** Math.min(attempt, 6));
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      if (this.stopping) return;
      this.restarts++;
      this.launch().catch((err: unknown) => {
        // A port still held by the dying process frees up in a moment: keep trying, backing off.
        this.options.log?.error({ server: this.name, err }, 'nats-server restart failed');
        this.scheduleRestart(attempt + 1);
      });
    }, delay);
  }

  /** Kills the server as if it crashed (tests of supervision). */
  crash(): void {
    this.child?.kill('SIGKILL');
  }

  async close(): Promise<void> {
    this.stopping = true;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(timer);
  }
}
