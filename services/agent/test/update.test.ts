// Signed auto-update with rollback, against a local update server, test keys and real processes: the "agent"
// versions are small executables that prove healthy (write health.json as the agent does once registered),
// exit at once, or never become healthy; the test's supervisor plays systemd's restart of `current`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { installLayout } from '../src/install/layout.ts';
import { readHealth, readUpdateStatus } from '../src/update/health.ts';
import { compareVersions, signDocument, verifyRelease, type ReleaseManifest } from '../src/update/release.ts';
import { runUpdate, type UpdaterDeps } from '../src/update/updater.ts';

type Behaviour = 'healthy' | 'exits' | 'never-healthy';
const DAY = 86_400_000;
const ed25519 = () => generateKeyPairSync('ed25519');
const spki = (key: KeyObject) => key.export({ format: 'der', type: 'spki' }).toString('base64');

/** A stand-in agent executable of `version`: node with a script, behaving as named. */
function agentProgram(version: string, behaviour: Behaviour): string {
  const body = {
    healthy: `require('fs').writeFileSync(require('path').join(process.env.STATE_DIR, 'health.json'), JSON.stringify({ version: ${JSON.stringify(version)}, pid: process.pid, at: Date.now() })); setInterval(() => {}, 1000);`,
    exits: 'process.exit(3);',
    'never-healthy': 'setInterval(() => {}, 1000);',
  }[behaviour];
  return `#!${process.execPath}\n// halo-link ${version}\n${body}\n`;
}

test('auto-update: signed manifests, side-by-side install, commit on health, rollback otherwise', async (t) => {
  const work = mkdtempSync(join(tmpdir(), 'halo-update-'));
  t.after(() => rmSync(work, { recursive: true, force: true }));
  const root = ed25519();
  const signing = ed25519();
  const stranger = ed25519();

  // The update server: the release document and the files it names (`served` can differ from what was signed).
  let document: unknown = {};
  const served = new Map<string, Buffer>();
  const server = createServer((req, res) => {
    if (req.url === '/release.json') return res.end(JSON.stringify(document));
    const file = served.get(req.url ?? '');
    if (!file) return res.writeHead(404).end();
    res.end(file);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => server.close());
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  interface Release { version: string; behaviour?: Behaviour; expiresAt?: number; rolloutPercent?: number; key?: KeyObject; keyId?: string; tamper?: 'bytes' | 'size' | 'signature' }
  const publish = (r: Release) => {
    const program = Buffer.from(agentProgram(r.version, r.behaviour ?? 'healthy'));
    const versionFile = Buffer.from(`${r.version}\n`);
    served.set(`/files/${r.version}/halo-link`, r.tamper === 'bytes' ? Buffer.from(program.toString().replace('halo-link', 'halo-lynx')) : r.tamper === 'size' ? Buffer.concat([program, Buffer.from('\n')]) : program);
    served.set(`/files/${r.version}/VERSION`, versionFile);
    const file = (name: string, bytes: Buffer) => ({ name, url: `${base}/files/${r.version}/${name}`, sha256: createHash('sha256').update(bytes).digest('hex'), size: bytes.length });
    const manifest: ReleaseManifest = {
      version: r.version,
      expiresAt: new Date(r.expiresAt ?? Date.now() + DAY).toISOString(),
      rolloutPercent: r.rolloutPercent ?? 100,
      platforms: { 'linux-x64': [file('halo-link', program), file('VERSION', versionFile)] },
    };
    const signedManifest = signDocument(manifest, r.keyId ?? 'k1', r.key ?? signing.privateKey);
    if (r.tamper === 'signature') signedManifest.payload = Buffer.from(JSON.stringify({ ...manifest, rolloutPercent: 50 })).toString('base64');
    document = {
      signingKeys: signDocument({ keys: [{ id: 'k1', publicKey: spki(signing.publicKey), notAfter: new Date(Date.now() + 30 * DAY).toISOString() }] }, 'root', root.privateKey),
      manifest: signedManifest,
    };
  };

  // One installation per case: 1.0.0 installed and running under the test's supervisor.
  let n = 0;
  const installation = (t: { after(fn: () => unknown): void }) => {
    const layout = installLayout('linux', join(work, `case-${++n}`));
    mkdirSync(join(layout.versionsDir, '1.0.0'), { recursive: true });
    mkdirSync(layout.stateDir, { recursive: true });
    writeFileSync(join(layout.stateDir, 'state.json'), JSON.stringify({ linkGuid: '6f1c2a4e-0a4b-4c43-9b1e-3f1f2d7c9a10', sites: {} }));
    writeFileSync(join(layout.versionsDir, '1.0.0', 'halo-link'), agentProgram('1.0.0', 'healthy'));
    chmodSync(join(layout.versionsDir, '1.0.0', 'halo-link'), 0o755);
    symlinkSync(join('versions', '1.0.0'), layout.current);
    let child: ChildProcess | undefined;
    const stop = async () => {
      if (!child || child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((resolve) => child!.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    };
    const start = async () => {
      await stop();
      child = spawn(layout.executable, [], { env: { STATE_DIR: layout.stateDir }, stdio: 'ignore' });
    };
    t.after(stop);
    const deps: UpdaterDeps = {
      layout, manifestUrl: `${base}/release.json`, rootKey: root.publicKey, platform: 'linux-x64', healthTimeoutMs: 3_000,
      restart: start, isRunning: () => child?.exitCode === null && child.signalCode === null,
    };
    return { layout, deps, start, running: () => readHealth(layout.stateDir)?.version, current: () => readlinkSync(layout.current) };
  };
  const waitHealthy = async (running: () => string | undefined, version: string) => {
    while (running() !== version) await new Promise((resolve) => setTimeout(resolve, 50));
  };

  await t.test('a good update is installed side by side, switched, restarted and committed once healthy', async (t) => {
    const site = installation(t);
    await site.start();
    await waitHealthy(site.running, '1.0.0');
    publish({ version: '1.1.0' });
    const status = await runUpdate(site.deps);
    assert.deepEqual({ state: status.state, version: status.version, previous: status.previous }, { state: 'updated', version: '1.1.0', previous: '1.0.0' });
    assert.equal(site.current(), join('versions', '1.1.0'));
    assert.equal(site.running(), '1.1.0');
    assert.ok(existsSync(join(site.layout.versionsDir, '1.0.0', 'halo-link')), 'the previous version is kept for a manual rollback');
    assert.deepEqual(readUpdateStatus(site.layout.stateDir), status);
    // The same release again: up to date.
    assert.equal((await runUpdate(site.deps)).state, 'up-to-date');
  });

  const refusals: Array<[string, Release, string]> = [
    ['a tampered file', { version: '1.1.0', tamper: 'bytes' }, 'bad_hash'],
    ['a file of the wrong size', { version: '1.1.0', tamper: 'size' }, 'bad_size'],
    ['a manifest changed after signing', { version: '1.1.0', tamper: 'signature' }, 'bad_signature'],
    ['a manifest signed by a key the root does not vouch for', { version: '1.1.0', key: stranger.privateKey, keyId: 'k9' }, 'unknown_key'],
    ['a manifest signed by an unknown key under a known id', { version: '1.1.0', key: stranger.privateKey }, 'bad_signature'],
    ['an expired manifest', { version: '1.1.0', expiresAt: Date.now() - 1000 }, 'expired'],
    ['a downgrade', { version: '0.9.0' }, 'downgrade'],
  ];
  for (const [what, release, code] of refusals) {
    await t.test(`refused: ${what} (${code}); nothing changes`, async (t) => {
      const site = installation(t);
      publish(release);
      const status = await runUpdate(site.deps);
      assert.deepEqual({ state: status.state, code: status.code, version: status.version }, { state: 'refused', code, version: '1.0.0' });
      assert.equal(site.current(), join('versions', '1.0.0'));
      assert.deepEqual(readdirNames(site.layout.versionsDir), ['1.0.0']);
    });
  }

  await t.test('a link outside the rollout percentage stays where it is', async (t) => {
    const site = installation(t);
    publish({ version: '1.1.0', rolloutPercent: 0 });
    assert.equal((await runUpdate(site.deps)).state, 'up-to-date');
    assert.equal(site.current(), join('versions', '1.0.0'));
  });

  for (const [behaviour, code] of [['exits', 'exited'], ['never-healthy', 'unhealthy']] as const) {
    await t.test(`a new version that ${behaviour === 'exits' ? 'exits at once' : 'never becomes healthy'} is rolled back and marked bad`, async (t) => {
      const site = installation(t);
      await site.start();
      await waitHealthy(site.running, '1.0.0');
      publish({ version: '1.1.0', behaviour });
      const status = await runUpdate(site.deps);
      assert.deepEqual({ state: status.state, version: status.version, failedVersion: status.failedVersion, code: status.code, bad: status.badVersions },
        { state: 'rolled-back', version: '1.0.0', failedVersion: '1.1.0', code, bad: ['1.1.0'] });
      assert.equal(site.current(), join('versions', '1.0.0'));
      assert.ok(site.deps.isRunning!(), 'the old version runs again');
      await waitHealthy(site.running, '1.0.0');
      assert.ok(!existsSync(join(site.layout.versionsDir, '1.1.0')));
      // A bad version is not tried again.
      assert.equal((await runUpdate(site.deps)).state, 'up-to-date');
      assert.equal(site.current(), join('versions', '1.0.0'));
    });
  }

  for (const stopAt of ['downloaded', 'switched'] as const) {
    await t.test(`the updater killed mid-update (after it ${stopAt}): the old version still runs, and the next run finishes cleanly`, async (t) => {
      const site = installation(t);
      await site.start();
      await waitHealthy(site.running, '1.0.0');
      publish({ version: '1.1.0', behaviour: 'never-healthy' });
      const updater = spawn(process.execPath, [fileURLToPath(new URL('./fixtures/updater-child.ts', import.meta.url))], {
        env: { UPDATER_OPTIONS: JSON.stringify({ root: join(site.layout.programDir, '..', '..'), manifestUrl: site.deps.manifestUrl, rootKeyPem: root.publicKey.export({ format: 'pem', type: 'spki' }), stopAt }) },
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      await new Promise<void>((resolve, reject) => {
        updater.stdout!.on('data', (c: Buffer) => { if (c.toString().includes(`stopped at ${stopAt}`)) resolve(); });
        updater.once('exit', (code) => reject(new Error(`the updater exited (${code}) before ${stopAt}`)));
      });
      updater.kill('SIGKILL');
      await new Promise((resolve) => updater.once('exit', resolve));
      assert.ok(site.deps.isRunning!());
      assert.equal(site.running(), '1.0.0', 'the old version still runs');

      const status = await runUpdate(site.deps);
      assert.equal(site.current(), join('versions', '1.0.0'));
      assert.ok(site.deps.isRunning!());
      if (stopAt === 'switched') {
        // `current` had moved to a version that never ran: switched back, marked bad.
        assert.deepEqual({ state: status.state, code: status.code, failedVersion: status.failedVersion }, { state: 'rolled-back', code: 'interrupted', failedVersion: '1.1.0' });
      } else {
        // Killed before the switch: the check started over and tried the release again (it never becomes healthy).
        assert.deepEqual({ state: status.state, code: status.code }, { state: 'rolled-back', code: 'unhealthy' });
      }
      assert.ok(!existsSync(join(site.layout.stateDir, 'update-journal.json')));
    });
  }
});

test('versions compare as semver without build metadata; equal is up to date', () => {
  assert.equal(compareVersions('1.2.0', '1.10.0'), -1);
  assert.equal(compareVersions('1.2.0+abc', '1.2.0+def'), 0);
  assert.equal(compareVersions('1.2.0-rc.1', '1.2.0'), -1);
  assert.equal(compareVersions('2.0.0', '1.99.99'), 1);
  const root = ed25519();
  const signing = ed25519();
  const manifest: ReleaseManifest = { version: '1.0.0', expiresAt: new Date(Date.now() + DAY).toISOString(), rolloutPercent: 100, platforms: {} };
  const doc = {
    signingKeys: signDocument({ keys: [{ id: 'k1', publicKey: spki(signing.publicKey), notAfter: new Date(Date.now() + DAY).toISOString() }] }, 'root', root.privateKey),
    manifest: signDocument(manifest, 'k1', signing.privateKey),
  };
  assert.equal(verifyRelease(doc, root.publicKey, '1.0.0+abc'), null);
  // A signing key past its notAfter is no longer vouched for.
  assert.throws(() => verifyRelease(doc, root.publicKey, '0.9.0', Date.now() + 2 * DAY), { code: 'unknown_key' });
  assert.throws(() => verifyRelease(doc, ed25519().publicKey, '0.9.0'), { code: 'bad_signature' });
  assert.throws(() => verifyRelease({ nonsense: true }, root.publicKey, '0.9.0'), { code: 'bad_document' });
});

function readdirNames(dir: string): string[] {
  return existsSync(dir) ? readdirSync(dir).sort() : [];
}
