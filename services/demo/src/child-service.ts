import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, createWriteStream, existsSync, fstatSync, mkdirSync, openSync, readSync, statSync, type WriteStream } from 'node:fs';
import { once } from 'node:events';
import { dirname } from 'node:path';
import { StringDecoder } from 'node:string_decoder';

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
/** How often a starting child's log file is read for its ready line. */
const READY_POLL_MS = 20;
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
  /** Where the running child's output starts in the log file. */
  private outputFrom = 0;
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

  /**
   * Spawns the child and waits for its ready line; on failure the child is gone when this rejects. The child
   * writes its stdout and stderr straight into the log file: the demo reads that file only until the ready line,
   * so a busy child's line per request costs it a write, not a wake-up of this process and a copy through it.
   */
  private async launch(what: string, args: readonly string[], env: NodeJS.ProcessEnv): Promise<LogLine> {
    this.log?.write(`--- ${new Date().toISOString()} demo ${what}\n`);
    await this.flushLog();
    const node = [process.execPath, ...(this.options.nodeArgs ?? []), ...profileArgs(), this.options.script, ...args];
    // setpriv execs Node in place (same pid): the child is killed when the demo dies, even by SIGKILL.
    const [command, ...commandArgs] = SETPRIV ? [SETPRIV, '--pdeathsig', 'KILL', '--', ...node] : node;
    const output = openSync(this.logFile, 'a');
    this.outputFrom = fstatSync(output).size;
    let child: ChildProcess;
    try {
      child = spawn(command!, commandArgs, { cwd: this.options.cwd, env, stdio: ['ignore', output, output], detached: OWN_GROUP });
    } finally {
      closeSync(output);
    }
    this.child = child;
    this.closed = new Promise((resolve) => child.once('close', () => resolve()));

    const ready = new Promise<LogLine>((resolve, reject) => {
      const timeoutMs = this.options.readyTimeoutMs ?? 60_000;
      let settled = false;
      const settle = (fn: () => void) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        clearTimeout(poll);
        fn();
      };
      const timer = setTimeout(() => settle(() => reject(this.failure(`not ready after ${timeoutMs} ms`))), timeoutMs);
      // Only lines that may carry a wanted msg are parsed.
      const wanted = [this.options.readyMsg, ...(this.options.keepMsgs ?? [])].map((msg) => JSON.stringify(msg));
      const reader = new LogReader(this.logFile, this.outputFrom);
      let poll: NodeJS.Timeout | undefined;
      const scan = () => {
        for (const line of reader.lines()) {
          if (!wanted.some((msg) => line.includes(msg))) continue;
          const parsed = parseLine(line);
          if (typeof parsed?.msg === 'string' && this.options.keepMsgs?.includes(parsed.msg)) this.kept.set(parsed.msg, parsed);
          if (parsed?.msg === this.options.readyMsg) {
            settle(() => resolve(parsed));
            return;
          }
        }
        poll = setTimeout(scan, READY_POLL_MS);
      };
      scan();
      child.once('error', (err) => settle(() => reject(err)));
      // A child that exits has written all it will: its last lines are read before it is declared not ready.
      child.once('exit', (code, signal) => {
        if (settled) return;
        clearTimeout(poll);
        scan();
        settle(() => reject(this.failure(`exited (${code ?? signal}) before it was ready`)));
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

  /** Resolves when the demo's own lines written so far are in the log file (before a child appends to it). */
  private flushLog(): Promise<void> {
    const log = this.log;
    if (!log || log.writableLength === 0) return Promise.resolve();
    return new Promise((resolve) => log.write('', () => resolve()));
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

  private failure(what: string): Error {
    return new Error(`${this.name} ${what}; see ${this.logFile}. Last output:\n${lastChars(this.logFile, this.outputFrom, TAIL_CHARS)}`);
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
    // The child writes its last lines itself; the demo's own stream is closed once it has exited (bounded: a
    // grandchild may still hold its stdio).
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

/** Reads the complete lines appended to a file since an offset, a call at a time. */
class LogReader {
  readonly #file: string;
  #offset: number;
  #pending = '';
  // A read may end inside a character: the decoder keeps its first bytes for the next read.
  readonly #decoder = new StringDecoder('utf8');

  constructor(file: string, offset: number) {
    this.#file = file;
    this.#offset = offset;
  }

  lines(): string[] {
    const bytes = readFrom(this.#file, this.#offset);
    if (bytes.length === 0) return [];
    this.#offset += bytes.length;
    const lines = (this.#pending + this.#decoder.write(bytes)).split('\n');
    this.#pending = lines.pop() ?? '';
    return lines;
  }
}

/** The last `chars` characters a file holds after `from` (the running child's output), for an error message. */
function lastChars(file: string, from: number, chars: number): string {
  const size = statSync(file, { throwIfNoEntry: false })?.size ?? 0;
  return readFrom(file, Math.max(from, size - chars * 4)).toString('utf8').slice(-chars);
}

/** What a file holds from byte `start` to its current end (nothing if it is shorter or gone). */
function readFrom(file: string, start: number): Buffer {
  const size = statSync(file, { throwIfNoEntry: false })?.size ?? 0;
  if (size <= start) return Buffer.alloc(0);
  const buffer = Buffer.alloc(size - start);
  const fd = openSync(file, 'r');
  try {
    return buffer.subarray(0, readSync(fd, buffer, 0, buffer.length, start));
  } finally {
    closeSync(fd);
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
