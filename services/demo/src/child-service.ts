import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, type WriteStream } from 'node:fs';
import { once } from 'node:events';
import { dirname } from 'node:path';

/**
 * When a child that failed is started again: systemd's `Restart=on-failure` with an exponential `RestartSec`
 * (RestartSteps/RestartMaxDelaySec) and a start limit (StartLimitBurst/StartLimitIntervalSec).
 */
export interface RestartPolicy {
  /** Delay before a restart; it doubles with each further restart within `intervalMs`, up to `maxDelayMs`. */
  delayMs: number;
  maxDelayMs: number;
  /** A child that would be restarted more than `burst` times within `intervalMs` is given up. */
  burst: number;
  intervalMs: number;
}

/** 1 s, 2 s, 4 s, 8 s, 16 s; a sixth failure within 5 minutes is final. */
export const DEFAULT_RESTART_POLICY: RestartPolicy = { delayMs: 1_000, maxDelayMs: 30_000, burst: 5, intervalMs: 300_000 };

/** How a child ended when nobody asked it to, and what the demo does about it. */
export interface UnexpectedExit {
  name: string;
  code: number | null;
  signal: NodeJS.Signals | null;
  logFile: string;
  /**
   * `restart`: started again in `delayMs` (restart number `attempt` within the interval); `clean`: it exited 0 or
   * on SIGTERM/SIGINT/SIGHUP/SIGPIPE by itself, which is no failure, so it is not restarted (as systemd's
   * on-failure); `gave-up`: it failed again after `attempt - 1` restarts within the interval, the start limit.
   */
  action: 'restart' | 'clean' | 'gave-up';
  attempt: number;
  delayMs: number;
}

/** One pino JSON log line of a child, as far as the demo reads it. */
export type LogLine = Record<string, unknown> & { msg?: unknown };

export interface ChildServiceOptions {
  /** Short name used in messages and the log file name. */
  name: string;
  /** Absolute path of the .ts entry run with this Node binary. */
  script: string;
  args?: readonly string[];
  /** Flags for Node itself, before the script. */
  nodeArgs?: readonly string[];
  env: NodeJS.ProcessEnv;
  cwd: string;
  /** stdout and stderr are appended here. */
  logFile: string;
  /** The `msg` of the log line that says the child is ready. */
  readyMsg: string;
  /** `msg`s of other lines to keep (the last of each, across restarts): `lineOf(msg)` answers them. */
  keepMsgs?: readonly string[];
  readyTimeoutMs?: number;
  restart: RestartPolicy;
  /**
   * What a restart changes, from the first start's ready line: the ports that start picked, so that clients and
   * leaves find the restarted child where they left it.
   */
  pinOnRestart?: (ready: LogLine) => { args?: readonly string[]; env?: NodeJS.ProcessEnv };
  /** Called when the child exits after it was ready and before stop() was called, or a restart fails. */
  onUnexpectedExit?: (exit: UnexpectedExit) => void;
  /** Called when a restarted child is ready again. */
  onRestarted?: (restarted: { name: string; pid: number | undefined; attempt: number }) => void;
}

/** Exits that are a shutdown rather than a failure (systemd's clean exit signals). */
const CLEAN_SIGNALS: ReadonlySet<string> = new Set(['SIGTERM', 'SIGINT', 'SIGHUP', 'SIGPIPE']);
const STOP_GRACE_MS = 5_000;
const TAIL_CHARS = 4_000;
// Each child leads its own process group: a terminal's Ctrl-C then reaches only the demo, which stops the
// children in reverse order, and a child's own children (the agent's leaf nats-server) can be killed with it.
const OWN_GROUP = process.platform !== 'win32';
/** util-linux setpriv, as @halo/nats-server uses it for nats-server. */
const SETPRIV = process.platform === 'linux' ? ['/usr/bin/setpriv', '/bin/setpriv'].find((path) => existsSync(path)) : undefined;

/** A Node service run as a child process, its output kept in a log file, restarted when it fails. */
export class ChildService {
  readonly name: string;
  readonly logFile: string;
  private readonly options: ChildServiceOptions;
  private child: ChildProcess | undefined;
  private log: WriteStream | undefined;
  private stopping = false;
  private tail = '';
  private closed: Promise<void> = Promise.resolve();
  /** The ready line of the first start (pinOnRestart reads it). */
  private firstReady: LogLine | undefined;
  /** When each restart within the start-limit interval was decided. */
  private restarts: number[] = [];
  private restartTimer: NodeJS.Timeout | undefined;
  private readonly kept = new Map<string, LogLine>();

  constructor(options: ChildServiceOptions) {
    this.options = options;
    this.name = options.name;
    this.logFile = options.logFile;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** The last line with this `msg` among `keepMsgs` (e.g. 'metrics listening', which precedes the ready line). */
  lineOf(msg: string): LogLine | undefined {
    return this.kept.get(msg);
  }

  private get running(): boolean {
    const child = this.child;
    return child !== undefined && child.exitCode === null && child.signalCode === null;
  }

  /** Starts the child and resolves with its ready line; rejects (and kills it) if it exits or times out first. */
  async start(): Promise<LogLine> {
    mkdirSync(dirname(this.logFile), { recursive: true });
    const log = createWriteStream(this.logFile, { flags: 'a' });
    log.on('error', () => undefined); // a full disk must not take the demo down; the child keeps running
    this.log = log;
    try {
      this.firstReady = await this.launch(`starts ${this.name}`, this.options.args ?? [], this.options.env);
      return this.firstReady;
    } catch (err) {
      await this.stop();
      throw err;
    }
  }

  /** Spawns the child and waits for its ready line; on failure the child is gone when this rejects. */
  private async launch(what: string, args: readonly string[], env: NodeJS.ProcessEnv): Promise<LogLine> {
    this.log?.write(`--- ${new Date().toISOString()} demo ${what}\n`);
    const node = [process.execPath, ...(this.options.nodeArgs ?? []), ...profileArgs(), this.options.script, ...args];
    // setpriv execs Node in place (same pid): the child is killed when the demo dies, even by SIGKILL. KILL, not
    // TERM: its stdout is a pipe to the dead demo, and a graceful stop that logs into a dead pipe may never end.
    const [command, ...commandArgs] = SETPRIV ? [SETPRIV, '--pdeathsig', 'KILL', '--', ...node] : node;
    const child = spawn(command!, commandArgs, {
      cwd: this.options.cwd,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: OWN_GROUP,
    });
    this.child = child;
    this.closed = new Promise((resolve) => child.once('close', () => resolve()));
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (chunk: string) => this.output(chunk));

    const ready = new Promise<LogLine>((resolve, reject) => {
      const timeoutMs = this.options.readyTimeoutMs ?? 60_000;
      const timer = setTimeout(() => reject(this.failure(`not ready after ${timeoutMs} ms`)), timeoutMs);
      let pending = '';
      // Only lines that may carry a wanted msg are parsed: a busy child writes a line per request.
      const wanted = [this.options.readyMsg, ...(this.options.keepMsgs ?? [])].map((msg) => JSON.stringify(msg));
      child.stdout!.setEncoding('utf8');
      child.stdout!.on('data', (chunk: string) => {
        this.output(chunk);
        pending += chunk;
        const lines = pending.split('\n');
        pending = lines.pop() ?? '';
        for (const line of lines) {
          if (!wanted.some((msg) => line.includes(msg))) continue;
          const parsed = parseLine(line);
          if (typeof parsed?.msg === 'string' && this.options.keepMsgs?.includes(parsed.msg)) this.kept.set(parsed.msg, parsed);
          if (parsed?.msg === this.options.readyMsg) {
            clearTimeout(timer);
            resolve(parsed);
          }
        }
      });
      child.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(this.failure(`exited (${code ?? signal}) before it was ready`));
      });
    });
    try {
      const line = await ready;
      child.once('exit', (code, signal) => this.exited(child, code, signal));
      return line;
    } catch (err) {
      await this.terminate();
      throw err;
    }
  }

  private exited(child: ChildProcess, code: number | null, signal: NodeJS.Signals | null): void {
    if (this.stopping || child !== this.child) return;
    if (code === 0 || (signal !== null && CLEAN_SIGNALS.has(signal))) {
      this.report({ code, signal, action: 'clean', attempt: 0, delayMs: 0 });
      return;
    }
    this.failed(code, signal);
  }

  /** The child failed (after it was ready, or while restarting): restart it with backoff, or give up. */
  private failed(code: number | null, signal: NodeJS.Signals | null): void {
    const policy = this.options.restart;
    const now = Date.now();
    this.restarts = this.restarts.filter((at) => now - at < policy.intervalMs);
    const attempt = this.restarts.length + 1;
    if (attempt > policy.burst) {
      this.report({ code, signal, action: 'gave-up', attempt, delayMs: 0 });
      return;
    }
    this.restarts.push(now);
    const delayMs = Math.min(policy.maxDelayMs, policy.delayMs * 2 ** (attempt - 1));
    this.report({ code, signal, action: 'restart', attempt, delayMs });
    this.restartTimer = setTimeout(() => void this.restart(attempt), delayMs);
  }

  private async restart(attempt: number): Promise<void> {
    this.restartTimer = undefined;
    if (this.stopping) return;
    const pinned = this.firstReady ? this.options.pinOnRestart?.(this.firstReady) ?? {} : {};
    try {
      await this.launch(`restarts ${this.name} (restart ${attempt})`, pinned.args ?? this.options.args ?? [], { ...this.options.env, ...pinned.env });
    } catch (err) {
      if (this.stopping) return;
      this.log?.write(`--- demo: ${(err instanceof Error ? err.message : String(err)).split('\n')[0]}\n`);
      this.failed(this.child?.exitCode ?? null, this.child?.signalCode ?? null);
      return;
    }
    this.options.onRestarted?.({ name: this.name, pid: this.pid, attempt });
  }

  private report(exit: Omit<UnexpectedExit, 'name' | 'logFile'>): void {
    this.options.onUnexpectedExit?.({ name: this.name, logFile: this.logFile, ...exit });
  }

  private output(chunk: string): void {
    this.log?.write(chunk);
    this.tail = (this.tail + chunk).slice(-TAIL_CHARS);
  }

  private failure(what: string): Error {
    return new Error(`${this.name} ${what}; see ${this.logFile}. Last output:\n${this.tail}`);
  }

  /** SIGTERM, then SIGKILL to the child's whole process group if it is still there after 5 s. */
  private async terminate(): Promise<void> {
    const child = this.child;
    if (child && this.running) {
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      const timer = setTimeout(() => this.killGroup(), STOP_GRACE_MS);
      await exited;
      clearTimeout(timer);
    }
    // Whatever the child left in its group (a leaf nats-server it failed to stop) goes too.
    this.killGroup();
  }

  /** Stops the child (and any pending restart); it is not restarted after this. */
  async stop(): Promise<void> {
    this.stopping = true;
    clearTimeout(this.restartTimer);
    await this.terminate();
    // Keep the log open until the pipes have delivered the child's last lines (bounded: a grandchild may hold them).
    await Promise.race([this.closed, new Promise((resolve) => setTimeout(resolve, 1_000).unref())]);
    const log = this.log;
    this.log = undefined;
    if (log) await new Promise<void>((resolve) => log.end(resolve));
  }

  /** Synchronous last resort for process 'exit': kill the child and its group without waiting. */
  killNow(): void {
    this.stopping = true;
    clearTimeout(this.restartTimer);
    this.killGroup();
  }

  private killGroup(): void {
    const pid = this.child?.pid;
    if (pid === undefined) return;
    try {
      if (OWN_GROUP) process.kill(-pid, 'SIGKILL');
      else if (this.running) this.child?.kill('SIGKILL');
    } catch {
      // ESRCH: the group is already empty.
    }
  }
}

/** One line for a person: what happened to a service and what the demo does about it. */
export function describeExit(exit: UnexpectedExit, policy: RestartPolicy): string {
  const how = exit.signal ? `on ${exit.signal}` : `with code ${exit.code}`;
  const seconds = (ms: number) => `${Math.round(ms / 100) / 10} s`;
  switch (exit.action) {
    case 'restart':
      return `${exit.name} failed (exited ${how}); restart ${exit.attempt} of at most ${policy.burst} in ${seconds(policy.intervalMs)}, in ${seconds(exit.delayMs)}; see ${exit.logFile}`;
    case 'clean':
      return `${exit.name} stopped by itself (exited ${how}); not restarted: only failures are; see ${exit.logFile}`;
    case 'gave-up':
      return `${exit.name} failed again (exited ${how}) after ${exit.attempt - 1} restarts in ${seconds(policy.intervalMs)}: giving up; see ${exit.logFile}`;
  }
}

function parseLine(line: string): LogLine | undefined {
  if (!line.startsWith('{')) return undefined;
  try {
    const value: unknown = JSON.parse(line);
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as LogLine) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * With HALO_CPU_PROF_DIR set, every service child writes a V8 CPU profile there when it exits (Node refuses
 * --cpu-prof in NODE_OPTIONS): how the benches find out where each process spends its time.
 */
function profileArgs(): string[] {
  const dir = process.env.HALO_CPU_PROF_DIR;
  return dir ? ['--cpu-prof', `--cpu-prof-dir=${dir}`] : [];
}
