import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, readlinkSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { isSea } from 'node:sea';
import { EnrolmentToken, type Environment } from '@halo/contracts';
import { AgentConfig } from '../config.ts';
import { writeFileAtomic } from '../state.ts';
import { agentVersion } from '../version.ts';
import { installLayout, SERVICE_NAME, type InstallLayout } from './layout.ts';
import { systemdUnits, sysusersEntry } from './systemd-units.ts';

/** Thrown for a bad install request or a step that failed; the message says what to fix. Exit code 2 or 1. */
export class InstallError extends Error {
  readonly exitCode: number;
  constructor(message: string, options?: { cause?: unknown; exitCode?: number }) {
    super(message, options);
    this.name = 'InstallError';
    this.exitCode = options?.exitCode ?? 1;
  }
}

export interface InstallRequest {
  enrolUrl: string;
  token: string;
  caFile?: string | undefined;
  env: Environment;
  /** Entries of the agent config's `databases`, relative paths already resolved. */
  databases: unknown[];
  /** Release manifest URL for auto-update; none: no automatic updates. */
  updateUrl?: string | undefined;
  /** Install under this prefix and print the command line instead of starting a service. */
  root?: string | undefined;
  /** The folder holding the executable, nats-server and the SQLite module; default the running executable's. */
  from?: string;
  /** Run by the Windows MSI, which places the program and installs the service itself: config and state only. */
  msi?: boolean;
}

export interface InstallResult {
  layout: InstallLayout;
  version: string;
  /** The command line the service runs (with --root: under the prefix, ready to start by hand). */
  commandLine: string;
  /** True when systemd runs here and the service was enabled and started. */
  started: boolean;
}

/** Files of a built distribution (dist/halo-link-<os>-x64/), copied into versions/<v>/. */
const PROGRAM_FILES = { linux: ['halo-link', 'nats-server', 'better_sqlite3.node', 'VERSION'], win32: ['halo-link.exe', 'nats-server.exe', 'better_sqlite3.node', 'VERSION'] } as const;

/** The `databases` of a file (an array, or an object with a `databases` array); relative paths from the file's folder. */
export function readDatabasesFile(path: string): unknown[] {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (cause) {
    throw new InstallError(`cannot read the databases file ${path}: ${cause instanceof Error ? cause.message : String(cause)}`, { cause, exitCode: 2 });
  }
  const list = Array.isArray(raw) ? raw : (raw as { databases?: unknown } | null)?.databases;
  if (!Array.isArray(list)) throw new InstallError(`${path} must hold the databases array of the agent config (or an object with "databases")`, { exitCode: 2 });
  const base = dirname(resolve(path));
  return list.map((entry) => relativeFrom(entry, base));
}

/** One `--database key=value,...` entry; values that read as JSON numbers or booleans are taken as such. */
export function parseDatabaseFlag(text: string): Record<string, unknown> {
  const entry: Record<string, unknown> = {};
  for (const pair of text.split(',')) {
    const at = pair.indexOf('=');
    if (at <= 0) throw new InstallError(`--database ${text}: "${pair}" is not key=value`, { exitCode: 2 });
    const key = pair.slice(0, at).trim();
    const value = pair.slice(at + 1).trim();
    entry[key] = /^(true|false|-?\d+(\.\d+)?)$/.test(value) ? JSON.parse(value) : value;
  }
  return relativeFrom(entry, process.cwd()) as Record<string, unknown>;
}

function relativeFrom(entry: unknown, base: string): unknown {
  if (typeof entry !== 'object' || entry === null) return entry;
  const e = entry as Record<string, unknown>;
  const abs = (p: unknown) => (typeof p === 'string' && !isAbsolute(p) ? resolve(base, p) : p);
  return { ...e, ...(e.engine === 'sqlite' && 'path' in e ? { path: abs(e.path) } : {}), ...('passwordFile' in e ? { passwordFile: abs(e.passwordFile) } : {}) };
}

const systemdRuns = () => existsSync('/run/systemd/system');

/**
 * Installs silently: the program side by side under versions/<v>/ with `current` pointing at it, the config
 * (0600) with the enrolment URL, token and databases, the state directory (0700), the systemd units and the
 * system user; enables and starts the service where systemd runs. The link enrols on its first start.
 */
export function install(request: InstallRequest): InstallResult {
  const os = process.platform === 'win32' ? 'win32' : 'linux';
  const root = request.root === undefined ? '' : resolve(request.root);
  const layout = installLayout(os, root, { programFiles: process.env.ProgramFiles, programData: process.env.ProgramData });
  const real = installLayout(os, '', { programFiles: process.env.ProgramFiles, programData: process.env.ProgramData });
  if (os === 'win32' && !request.msi) {
    throw new InstallError('on Windows, install with the MSI: msiexec /i halo-link-x64.msi /qn ENROLURL=... ENROLTOKEN=... DATABASESFILE=...', { exitCode: 2 });
  }
  const from = request.from ?? (isSea() ? dirname(process.execPath) : undefined);
  if (!from && !request.msi) throw new InstallError('install runs from the built executable (npm run build:agent makes dist/halo-link-<os>-x64/)', { exitCode: 2 });
  if (!/^https?:\/\//.test(request.enrolUrl) || !URL.canParse(request.enrolUrl)) throw new InstallError(`--enrol-url ${request.enrolUrl} is not an http(s) URL`, { exitCode: 2 });
  if (!EnrolmentToken.safeParse(request.token).success) throw new InstallError('--token is not an enrolment token (ask support for one: POST /support/enrolment-tokens)', { exitCode: 2 });
  const caPem = request.caFile === undefined ? undefined : readPem(request.caFile);
  const enrolCa = join(layout.configDir, 'enrol-ca.pem');
  const config = {
    env: request.env,
    stateDir: layout.stateDir,
    enrolment: { url: request.enrolUrl, token: request.token, ...(caPem ? { caFile: enrolCa } : {}) },
    ...(request.updateUrl ? { update: { manifestUrl: request.updateUrl } } : {}),
    databases: request.databases,
  };
  const parsed = AgentConfig.safeParse(config);
  if (!parsed.success) {
    throw new InstallError(`the databases (or flags) do not make a valid agent config:\n  ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('\n  ')}`, { exitCode: 2 });
  }

  const version = agentVersion();
  if (from && !request.msi) placeProgram(from, layout, version, PROGRAM_FILES[os]);
  mkdirSync(layout.configDir, { recursive: true, mode: 0o755 });
  if (caPem) writeFileAtomic(enrolCa, caPem, 0o644);
  writeFileAtomic(layout.configFile, `${JSON.stringify(config, null, 2)}\n`, 0o600);
  // Windows ignores the mode: the token's file is closed to all but SYSTEM and Administrators by its ACL.
  if (os === 'win32' && !root) execFileSync('icacls', [layout.configFile, '/inheritance:r', '/grant:r', '*S-1-5-18:F', '*S-1-5-32-544:F'], { stdio: 'ignore' });
  mkdirSync(layout.stateDir, { recursive: true, mode: 0o700 });
  chmodSync(layout.stateDir, 0o700);

  let started = false;
  if (os === 'linux' && !request.msi) {
    mkdirSync(layout.unitDir, { recursive: true });
    for (const [name, text] of Object.entries(systemdUnits(real))) writeFileSync(join(layout.unitDir, name), text, { mode: 0o644 });
    mkdirSync(dirname(layout.sysusersFile), { recursive: true });
    writeFileSync(layout.sysusersFile, sysusersEntry(real), { mode: 0o644 });
    if (!root && systemdRuns()) {
      const run = (cmd: string, ...args: string[]) => execFileSync(cmd, args, { stdio: ['ignore', 'inherit', 'inherit'] });
      run('systemd-sysusers', layout.sysusersFile);
      run('chown', '-R', `${SERVICE_NAME}:${SERVICE_NAME}`, layout.stateDir, layout.configFile);
      run('systemctl', 'daemon-reload');
      run('systemctl', 'enable', '--now', `${SERVICE_NAME}.service`, ...(request.updateUrl ? [`${SERVICE_NAME}-update.timer`] : []));
      started = true;
    }
  }
  const executable = request.msi ? join(dirname(process.execPath), os === 'win32' ? 'halo-link.exe' : 'halo-link') : layout.executable;
  return { layout, version, commandLine: `${executable} run --config ${layout.configFile}`, started };
}

function readPem(path: string): string {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (cause) {
    throw new InstallError(`cannot read --ca-file ${path}`, { cause, exitCode: 2 });
  }
  if (!text.includes('-----BEGIN CERTIFICATE-----')) throw new InstallError(`--ca-file ${path} is not a PEM certificate`, { exitCode: 2 });
  return text;
}

/**
 * Copies the program into versions/<version>/ (through a temporary folder, renamed into place) and points
 * `current` at it with a rename: a crash leaves the old or the new version current, never a half-copied one.
 */
export function placeProgram(from: string, layout: InstallLayout, version: string, files: readonly string[]): void {
  const target = join(layout.versionsDir, version);
  mkdirSync(layout.versionsDir, { recursive: true, mode: 0o755 });
  if (!existsSync(target)) {
    const tmp = `${target}.${process.pid}.tmp`;
    rmSync(tmp, { recursive: true, force: true });
    mkdirSync(tmp);
    for (const file of files) {
      const source = join(from, file);
      if (!existsSync(source)) throw new InstallError(`${source} is missing: install from a complete dist/halo-link-<os>-x64/ folder`);
      copyFileSync(source, join(tmp, file));
      if (!file.endsWith('.node') && file !== 'VERSION') chmodSync(join(tmp, file), 0o755);
    }
    renameSync(tmp, target);
  }
  switchCurrent(layout, version);
}

/** Points `current` at versions/<version> atomically (a new link renamed over the old one). */
export function switchCurrent(layout: InstallLayout, version: string): void {
  const tmp = `${layout.current}.${process.pid}.tmp`;
  rmSync(tmp, { force: true });
  symlinkSync(join('versions', version), tmp, process.platform === 'win32' ? 'junction' : 'dir');
  renameSync(tmp, layout.current);
}

/** The version `current` points at, or null before an install. */
export function currentVersion(layout: InstallLayout): string | null {
  try {
    return readlinkSync(layout.current).split(/[\\/]/).pop() ?? null;
  } catch {
    return null;
  }
}

/**
 * Removes the units and the program (unless the MSI removes it); with `purge` also config and state. Stops the
 * service where systemd runs.
 */
export function removeInstall(layout: InstallLayout, options: { purge: boolean; root: boolean; msi?: boolean }): string[] {
  const removed: string[] = [];
  if (layout.os === 'linux') {
    if (!options.root && systemdRuns()) {
      execFileSync('systemctl', ['disable', '--now', `${SERVICE_NAME}.service`, `${SERVICE_NAME}-update.timer`], { stdio: 'ignore' });
    }
    for (const name of Object.keys(systemdUnits(layout))) {
      const unit = join(layout.unitDir, name);
      if (existsSync(unit)) {
        rmSync(unit);
        removed.push(unit);
      }
    }
    if (!options.root && systemdRuns()) execFileSync('systemctl', ['daemon-reload'], { stdio: 'ignore' });
  }
  const remove = (path: string) => {
    if (!existsSync(path)) return;
    rmSync(path, { recursive: true, force: true });
    removed.push(path);
  };
  if (!options.msi) remove(layout.programDir);
  if (options.purge) {
    remove(layout.configDir);
    remove(layout.stateDir);
    if (layout.sysusersFile) remove(layout.sysusersFile);
  }
  return removed;
}

