import { createHash, type KeyObject } from 'node:crypto';
import { createWriteStream, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import type { UpdateStatus } from '@halo/contracts';
import { currentVersion, switchCurrent } from '../install/install.ts';
import type { InstallLayout } from '../install/layout.ts';
import { writeFileAtomic } from '../state.ts';
import { readHealth, readUpdateStatus, UPDATE_FILES, writeUpdateStatus } from './health.ts';
import { inRollout, UpdateRefused, verifyRelease, type ReleaseFile } from './release.ts';

export interface UpdaterDeps {
  layout: InstallLayout;
  manifestUrl: string;
  /** CA of the update server's certificate, if it is not a public one. */
  caFile?: string | undefined;
  /** The root public key built into the executable. */
  rootKey: KeyObject;
  /** e.g. linux-x64. */
  platform: string;
  /** Restarts the service, which then runs `current`. */
  restart(): Promise<void>;
  /** Optional: false once the restarted service has exited (a version that dies at once is rolled back without waiting). */
  isRunning?: () => boolean;
  /** How long a new version has to prove healthy (registered, first heartbeat sent). */
  healthTimeoutMs: number;
  /** Test hook: called at named steps (the tests kill the updater in the middle of a switch). */
  step?: (name: 'downloaded' | 'switched') => Promise<void>;
  now?: () => number;
}

/** Written before `current` is switched and removed once the outcome is known: an interrupted switch is finished by the next run. */
const Journal = z.object({ from: z.string(), to: z.string(), switchedAt: z.number() });

const MAX_DOCUMENT_BYTES = 1_000_000;

/**
 * One update check (the update timer's job, hourly with jitter): finishes an interrupted switch first, then
 * fetches and verifies the release, downloads its files into versions/<v>/ (hash and size checked), switches
 * `current`, restarts the service and commits only if the new version proves healthy in time; otherwise switches
 * back, restarts the old version and marks the new one bad. The outcome is written where heartbeats pick it up.
 */
export async function runUpdate(deps: UpdaterDeps): Promise<UpdateStatus> {
  const recovered = await recoverInterruptedSwitch(deps);
  if (recovered) return recovered;
  const { layout } = deps;
  const now = deps.now ?? Date.now;
  const current = currentVersion(layout);
  if (!current) throw new Error(`nothing is installed in ${layout.programDir}`);
  const previous = readUpdateStatus(layout.stateDir);
  const badVersions = previous?.badVersions ?? [];
  const status = (s: Omit<UpdateStatus, 'at' | 'version' | 'badVersions'> & { version?: string }): UpdateStatus => {
    const out: UpdateStatus = { version: current, ...s, ...(badVersions.length > 0 ? { badVersions } : {}), at: new Date(now()).toISOString() };
    writeUpdateStatus(layout.stateDir, out);
    return out;
  };

  let files: ReleaseFile[];
  let target: string;
  try {
    const raw: unknown = JSON.parse((await fetchBytes(deps.manifestUrl, deps.caFile, MAX_DOCUMENT_BYTES)).toString('utf8'));
    const manifest = verifyRelease(raw, deps.rootKey, current, now());
    if (!manifest || badVersions.includes(manifest.version) || !inRollout(linkGuidOf(layout), manifest.version, manifest.rolloutPercent)) {
      return status({ state: 'up-to-date' });
    }
    const platformFiles = manifest.platforms[deps.platform];
    if (!platformFiles) throw new UpdateRefused('no_platform', `release ${manifest.version} has no files for ${deps.platform}`);
    files = platformFiles;
    target = manifest.version;
    await download(files, join(layout.versionsDir, target), deps.caFile);
  } catch (err) {
    if (err instanceof UpdateRefused) return status({ state: 'refused', code: err.code });
    if (err instanceof SyntaxError) return status({ state: 'refused', code: 'bad_document' });
    throw err;
  }
  await deps.step?.('downloaded');

  writeFileAtomic(join(layout.stateDir, UPDATE_FILES.journal), JSON.stringify({ from: current, to: target, switchedAt: now() }), 0o644);
  switchCurrent(layout, target);
  await deps.step?.('switched');
  await deps.restart();
  const outcome = await waitHealthy(deps, target, now());
  return finish(deps, { from: current, to: target }, outcome);
}

/** A switch the updater did not finish (it was killed): committed if the new version is healthy, else rolled back. */
export async function recoverInterruptedSwitch(deps: UpdaterDeps): Promise<UpdateStatus | null> {
  const file = join(deps.layout.stateDir, UPDATE_FILES.journal);
  if (!existsSync(file)) return null;
  const journal = Journal.safeParse(JSON.parse(readFileSync(file, 'utf8')));
  if (!journal.success) {
    rmSync(file, { force: true });
    return null;
  }
  if (currentVersion(deps.layout) === journal.data.from) {
    // Killed before `current` moved: the old version never stopped running; the check starts over.
    rmSync(file, { force: true });
    return null;
  }
  const health = readHealth(deps.layout.stateDir);
  const healthy = currentVersion(deps.layout) === journal.data.to && health?.version === journal.data.to && health.at >= journal.data.switchedAt;
  if (!healthy) {
    switchCurrent(deps.layout, journal.data.from);
    await deps.restart();
  }
  return finish(deps, journal.data, healthy ? 'healthy' : 'interrupted', { restartedOld: true });
}

type Outcome = 'healthy' | 'exited' | 'unhealthy' | 'interrupted';

async function waitHealthy(deps: UpdaterDeps, version: string, since: number): Promise<Outcome> {
  const deadline = Date.now() + deps.healthTimeoutMs;
  while (Date.now() < deadline) {
    const health = readHealth(deps.layout.stateDir);
    if (health && health.version === version && health.at >= since) return 'healthy';
    if (deps.isRunning && !deps.isRunning()) return 'exited';
    await sleep(100);
  }
  return 'unhealthy';
}

async function finish(deps: UpdaterDeps, move: { from: string; to: string }, outcome: Outcome, options: { restartedOld?: boolean } = {}): Promise<UpdateStatus> {
  const { layout } = deps;
  const badVersions = readUpdateStatus(layout.stateDir)?.badVersions ?? [];
  const at = new Date((deps.now ?? Date.now)()).toISOString();
  let status: UpdateStatus;
  if (outcome === 'healthy') {
    status = { state: 'updated', version: move.to, previous: move.from, ...(badVersions.length > 0 ? { badVersions } : {}), at };
    pruneVersions(layout, [move.to, move.from]);
  } else {
    if (!options.restartedOld) {
      switchCurrent(layout, move.from);
      await deps.restart();
    }
    const bad = [...new Set([...badVersions, move.to])].slice(-50);
    status = { state: 'rolled-back', version: move.from, failedVersion: move.to, code: outcome, badVersions: bad, at };
    rmSync(join(layout.versionsDir, move.to), { recursive: true, force: true });
  }
  writeUpdateStatus(layout.stateDir, status);
  rmSync(join(layout.stateDir, UPDATE_FILES.journal), { force: true });
  return status;
}

/** Keeps the versions named (current and the one before, for a manual rollback); removes the others. */
function pruneVersions(layout: InstallLayout, keep: string[]): void {
  for (const name of readdirSync(layout.versionsDir)) {
    if (!keep.includes(name)) rmSync(join(layout.versionsDir, name), { recursive: true, force: true });
  }
}

function linkGuidOf(layout: InstallLayout): string {
  try {
    return (JSON.parse(readFileSync(join(layout.stateDir, 'state.json'), 'utf8')) as { linkGuid?: string }).linkGuid ?? '';
  } catch {
    return '';
  }
}

/** Downloads every file into a temporary folder, checking size and SHA-256, then renames it to `target`. */
async function download(files: readonly ReleaseFile[], target: string, caFile: string | undefined): Promise<void> {
  const tmp = `${target}.${process.pid}.download`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  try {
    for (const file of files) await downloadFile(file, join(tmp, file.name), caFile);
    rmSync(target, { recursive: true, force: true });
    renameSync(tmp, target);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

async function downloadFile(file: ReleaseFile, path: string, caFile: string | undefined): Promise<void> {
  const res = await get(file.url, caFile);
  const hash = createHash('sha256');
  const out = createWriteStream(path, { mode: file.name.endsWith('.node') || file.name === 'VERSION' ? 0o644 : 0o755 });
  let size = 0;
  try {
    for await (const chunk of res as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > file.size) throw new UpdateRefused('bad_size', `${file.name} is larger than the manifest says`);
      hash.update(chunk);
      if (!out.write(chunk)) await new Promise<void>((resolve) => out.once('drain', () => resolve()));
    }
  } finally {
    res.destroy();
    await new Promise<void>((resolve) => out.end(() => resolve()));
  }
  if (size !== file.size) throw new UpdateRefused('bad_size', `${file.name} is ${size} bytes, the manifest says ${file.size}`);
  if (hash.digest('hex') !== file.sha256) throw new UpdateRefused('bad_hash', `${file.name} does not match the manifest's SHA-256`);
}

function get(url: string, caFile: string | undefined): Promise<IncomingMessage> {
  const send = url.startsWith('https:') ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = send(url, { timeout: 60_000, ...(caFile ? { ca: readFileSync(caFile) } : {}) }, (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        reject(new UpdateRefused('download_failed', `${new URL(url).pathname}: HTTP ${res.statusCode}`));
        return;
      }
      resolve(res);
    });
    req.on('timeout', () => req.destroy(new UpdateRefused('download_failed', 'timed out')));
    req.on('error', (cause) => reject(cause instanceof UpdateRefused ? cause : new UpdateRefused('download_failed', `cannot reach ${new URL(url).origin}`, { cause })));
    req.end();
  });
}

async function fetchBytes(url: string, caFile: string | undefined, max: number): Promise<Buffer> {
  const res = await get(url, caFile);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of res as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > max) {
      res.destroy();
      throw new UpdateRefused('bad_document', 'the release document is too large');
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}
