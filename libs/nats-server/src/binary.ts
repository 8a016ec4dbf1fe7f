import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { delimiter, dirname, join, resolve } from 'node:path';
import { findProjectRoot } from '@halo/config';

/** Older servers do not check publish permissions on messages arriving over a leaf (ARCHITECTURE §8). */
export const MIN_NATS_SERVER_VERSION = '2.12.7';

const EXE = process.platform === 'win32' ? 'nats-server.exe' : 'nats-server';

/** Where deploy/install/nats-server.ts puts the binary in a checkout; null outside one (an installed agent). */
export function projectToolsBinary(): string | null {
  const root = findProjectRoot();
  return root === null ? null : join(root, '.tools', 'nats-server', EXE);
}

function parseVersion(text: string): [number, number, number] | null {
  const m = /v?(\d+)\.(\d+)\.(\d+)/.exec(text);
  return m ? [Number(m[1]), Number(m[2]), Number(m[3])] : null;
}

/** True when `version` (e.g. "2.15.1") is at least `minimum`. */
export function versionAtLeast(version: string, minimum = MIN_NATS_SERVER_VERSION): boolean {
  const a = parseVersion(version);
  const b = parseVersion(minimum);
  if (!a || !b) return false;
  for (let i = 0; i < 3; i++) {
    if (a[i]! !== b[i]!) return a[i]! > b[i]!;
  }
  return true;
}

/** The version a nats-server binary reports, or null if it does not run. */
export function binaryVersion(path: string): string | null {
  try {
    const out = execFileSync(path, ['--version'], { encoding: 'utf8', timeout: 10_000, stdio: ['ignore', 'pipe', 'pipe'] });
    const v = parseVersion(out);
    return v ? v.join('.') : null;
  } catch {
    return null;
  }
}

export interface NatsServerCandidate {
  path: string;
  version: string | null;
  accepted: boolean;
}

/**
 * Every place looked at, in order: $HALO_NATS_SERVER, beside the running executable (a shipped agent: the server
 * travels next to it), the checkout's tools folder, then each PATH entry. The lookup order is this library's
 * contract, so it reads those two variables itself (from `env`, given by the caller in tests).
 */
export function natsServerCandidates(env: NodeJS.ProcessEnv = process.env): NatsServerCandidate[] {
  const paths: string[] = [];
  if (env.HALO_NATS_SERVER) paths.push(resolve(env.HALO_NATS_SERVER));
  paths.push(join(dirname(process.execPath), EXE));
  const tools = projectToolsBinary();
  if (tools) paths.push(tools);
  for (const dir of (env.PATH ?? '').split(delimiter)) if (dir) paths.push(join(dir, EXE));
  const seen = new Set<string>();
  const out: NatsServerCandidate[] = [];
  for (const path of paths) {
    if (seen.has(path) || !existsSync(path)) continue;
    seen.add(path);
    const version = binaryVersion(path);
    out.push({ path, version, accepted: version !== null && versionAtLeast(version) });
  }
  return out;
}

/** Thrown when no nats-server of the minimum version is found; says what was found and what to do. */
export class NatsServerNotFoundError extends Error {
  constructor(candidates: readonly NatsServerCandidate[]) {
    const seen = candidates.map((c) => `${c.path} (${c.version ?? 'does not run'})`).join(', ') || 'none';
    super(
      `no nats-server >= ${MIN_NATS_SERVER_VERSION} found (looked at: ${seen}). ` +
        'Run `npm run nats:install` (Debian/Ubuntu with apt), or install nats-server >= ' +
        `${MIN_NATS_SERVER_VERSION} from the NATS project's releases and put it on PATH, ` +
        `${projectToolsBinary() ? `at ${projectToolsBinary()}, ` : ''}beside this executable, or name it in HALO_NATS_SERVER.`,
    );
    this.name = 'NatsServerNotFoundError';
  }
}

let cached: string | undefined;

/** The nats-server binary every component uses (see natsServerCandidates for the order). */
export function findNatsServer(env: NodeJS.ProcessEnv = process.env): string {
  if (cached && env === process.env) return cached;
  const candidates = natsServerCandidates(env);
  const found = candidates.find((c) => c.accepted);
  if (!found) throw new NatsServerNotFoundError(candidates);
  if (env === process.env) cached = found.path;
  return found.path;
}
