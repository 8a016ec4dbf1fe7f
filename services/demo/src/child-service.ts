import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import { once } from 'node:events';
import { dirname } from 'node:path';

/** How a child ended when nobody asked it to. */
export interface UnexpectedExit {
  name: string;
  code: number | null;
  signal: NodeJS.Signals | null;
  logFile: string;
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
  readyTimeoutMs?: number;
  /** Called when the child exits after it was ready and before stop() was called. */
  onUnexpectedExit?: (exit: UnexpectedExit) => void;
}

const STOP_GRACE_MS = 5_000;
const TAIL_CHARS = 4_000;
// Each child leads its own process group: a terminal's Ctrl-C then reaches only the demo, which stops the
// children in reverse order, and a child's own children (the agent's leaf nats-server) can be killed with it.
const OWN_GROUP = process.platform !== 'win32';

/** A Node service run as a child process, its output kept in a log file. */
export class ChildService {
  readonly name: string;
  readonly logFile: string;
  private readonly options: ChildServiceOptions;
  private child: ChildProcess | undefined;
  private log: WriteStream | undefined;
  private stopping = false;
  private tail = '';
  private closed: Promise<void> = Promise.resolve();

  constructor(options: ChildServiceOptions) {
    this.options = options;
    this.name = options.name;
    this.logFile = options.logFile;
  }

  get pid(): number | undefined {
    return this.child?.pid;
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
    log.write(`--- ${new Date().toISOString()} demo starts ${this.name}\n`);
    const child = spawn(process.execPath, [...(this.options.nodeArgs ?? []), this.options.script, ...(this.options.args ?? [])], {
      cwd: this.options.cwd,
      env: this.options.env,
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
      child.stdout!.setEncoding('utf8');
      child.stdout!.on('data', (chunk: string) => {
        this.output(chunk);
        pending += chunk;
        const lines = pending.split('\n');
        pending = lines.pop() ?? '';
        for (const line of lines) {
          const parsed = parseLine(line);
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
      child.once('exit', (code, signal) => {
        if (!this.stopping) this.options.onUnexpectedExit?.({ name: this.name, code, signal, logFile: this.logFile });
      });
      return line;
    } catch (err) {
      await this.stop();
      throw err;
    }
  }

  private output(chunk: string): void {
    this.log?.write(chunk);
    this.tail = (this.tail + chunk).slice(-TAIL_CHARS);
  }

  private failure(what: string): Error {
    return new Error(`${this.name} ${what}; see ${this.logFile}. Last output:\n${this.tail}`);
  }

  /** SIGTERM, then SIGKILL to the child's whole process group if it is still there after 5 s. */
  async stop(): Promise<void> {
    this.stopping = true;
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
    // Keep the log open until the pipes have delivered the child's last lines (bounded: a grandchild may hold them).
    await Promise.race([this.closed, new Promise((resolve) => setTimeout(resolve, 1_000).unref())]);
    const log = this.log;
    this.log = undefined;
    if (log) await new Promise<void>((resolve) => log.end(resolve));
  }

  /** Synchronous last resort for process 'exit': kill the child and its group without waiting. */
  killNow(): void {
    this.stopping = true;
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

function parseLine(line: string): LogLine | undefined {
  if (!line.startsWith('{')) return undefined;
  try {
    const value: unknown = JSON.parse(line);
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as LogLine) : undefined;
  } catch {
    return undefined;
  }
}
