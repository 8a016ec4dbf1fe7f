// `npm run build:msi`, built and checked here (no Windows): the MSI's tables read back with msiinfo (service,
// properties, custom actions, major upgrade), and the exe and MSI Authenticode-signed with a test certificate
// made here and verified with osslsigncode. The Windows nats-server is a build input that Debian and npm do not
// offer: without HALO_NATS_SERVER_WINDOWS the test builds with --without-nats-server, an MSI that says it is
// incomplete (no fake nats-server.exe stands in) and whose tables are otherwise the release's.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { projectRoot } from '@halo/config';

const root = projectRoot();
const TOOLS = ['wixl', 'msiinfo', 'osslsigncode', 'openssl'];
const missing = TOOLS.filter((tool) => spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0);

/** One table of the MSI as rows of named columns (msiinfo export: names, types, table name, then rows). */
function table(msi: string, name: string): Array<Record<string, string>> {
  const [header = '', , , ...rows] = execFileSync('msiinfo', ['export', msi, name], { encoding: 'utf8' }).split(/\r?\n/);
  const columns = header.split('\t');
  return rows.filter((r) => r !== '').map((r) => Object.fromEntries(r.split('\t').map((v, i) => [columns[i], v])));
}

test('the MSI holds the service, the silent-install properties and a major upgrade; exe and MSI are signed', { skip: missing.length > 0 && `missing ${missing.join(', ')} (Debian msitools, osslsigncode, openssl): .ci/run installs them` }, async (t) => {
  const work = mkdtempSync(join(tmpdir(), 'halo-msi-'));
  t.after(() => rmSync(work, { recursive: true, force: true }));
  // A code-signing test certificate, made for this run only.
  const cert = join(work, 'cert.pem');
  const key = join(work, 'key.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', '/CN=Halo Link test signing',
    '-addext', 'extendedKeyUsage=codeSigning', '-addext', 'keyUsage=digitalSignature'], { stdio: 'ignore' });
  const complete = process.env.HALO_NATS_SERVER_WINDOWS !== undefined;
  const out = execFileSync(process.execPath, [join(root, 'deploy/agent/build-msi.ts'), ...(complete ? [] : ['--without-nats-server']), '--sign-cert', cert, '--sign-key', key],
    { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  assert.match(out, /signed and verified/);
  const msi = join(root, 'dist', complete ? 'halo-link-x64.msi' : 'halo-link-x64-incomplete.msi');

  await t.test('service: halo-link, automatic start, hosted by WinSW running halo-link.exe run', () => {
    const [service] = table(msi, 'ServiceInstall');
    assert.equal(service!.Name, 'halo-link');
    assert.equal(service!.StartType, '2'); // SERVICE_AUTO_START
    assert.equal(service!.ServiceType, '16'); // own process
    assert.equal(service!.StartName, 'LocalSystem');
    const control = table(msi, 'ServiceControl')[0]!;
    assert.equal(control.Name, 'halo-link');
    assert.equal(Number(control.Event), 0x1 | 0x2 | 0x20 | 0x80); // start on install, stop on both, remove on uninstall
    const files = table(msi, 'File').map((f) => f.FileName).sort();
    const expected = ['VERSION', 'better_sqlite3.node', 'halo-link-service.exe', 'halo-link-service.exe.config', 'halo-link-service.xml', 'halo-link.exe', ...(complete ? ['nats-server.exe'] : [])].sort();
    assert.deepEqual(files, expected);
    const components = table(msi, 'Component');
    assert.equal(components.find((c) => c.Component === 'Service')!.KeyPath, 'ServiceHostExe');
  });

  await t.test('silent install: ENROLURL, ENROLTOKEN, ENV, DATABASESFILE feed halo-link.exe install --msi; the token is hidden from logs', () => {
    const properties = Object.fromEntries(table(msi, 'Property').map((p) => [p.Property, p.Value]));
    assert.equal(properties.ENV, 'production');
    assert.equal(properties.MsiHiddenProperties, 'ENROLTOKEN');
    assert.equal(properties.PURGE, '0');
    const actions = Object.fromEntries(table(msi, 'CustomAction').map((a) => [a.Action, a]));
    assert.equal(actions.WriteConfig!.Target, 'install --msi --enrol-url "[ENROLURL]" --token "[ENROLTOKEN]" --env "[ENV]" --databases "[DATABASESFILE]"');
    assert.equal(actions.WriteConfig!.Source, 'HaloLinkExe');
    // 18 (exe from an installed file) + deferred (1024) + no impersonation (2048): runs as SYSTEM after the files are in place.
    assert.equal(Number(actions.WriteConfig!.Type), 18 | 1024 | 2048);
    assert.equal(actions.Unregister!.Target, 'uninstall --msi');
    assert.equal(actions.UnregisterPurge!.Target, 'uninstall --msi --purge');
    const sequence = Object.fromEntries(table(msi, 'InstallExecuteSequence').map((s) => [s.Action, s]));
    assert.ok(Number(sequence.WriteConfig!.Sequence) < Number(sequence.StartServices!.Sequence), 'config before the service starts');
    assert.equal(sequence.WriteConfig!.Condition, 'NOT Installed AND ENROLTOKEN');
    assert.ok(Number(sequence.Unregister!.Sequence) < Number(sequence.StopServices!.Sequence), 'unregistered while the link still runs');
    assert.match(sequence.Unregister!.Condition!, /NOT UPGRADINGPRODUCTCODE/);
  });

  await t.test('major upgrade: one UpgradeCode, older versions removed in place, downgrades refused', () => {
    const properties = Object.fromEntries(table(msi, 'Property').map((p) => [p.Property, p.Value]));
    const upgradeCode = properties.UpgradeCode!;
    assert.equal(upgradeCode, '{6B0B3E5C-5E3A-4C1B-9A55-0F2D5C1A7E11}');
    const version = readFileSync(join(root, 'dist/halo-link-win-x64/VERSION'), 'utf8').trim().split(/[-+]/)[0];
    assert.equal(properties.ProductVersion, version);
    const upgrades = table(msi, 'Upgrade');
    assert.deepEqual(upgrades.map((u) => [u.UpgradeCode, u.ActionProperty]).sort(), [[upgradeCode, 'WIX_DOWNGRADE_DETECTED'], [upgradeCode, 'WIX_UPGRADE_DETECTED']]);
    assert.equal(upgrades.find((u) => u.ActionProperty === 'WIX_UPGRADE_DETECTED')!.VersionMax, version);
    assert.ok(table(msi, 'InstallExecuteSequence').some((s) => s.Action === 'RemoveExistingProducts'));
  });

  await t.test('signatures: the exe inside and the MSI verify against the test certificate; a changed byte does not', () => {
    for (const file of [msi, join(root, 'dist/build/msi/halo-link.exe')]) {
      const verify = spawnSync('osslsigncode', ['verify', '-CAfile', cert, '-in', file], { encoding: 'utf8' });
      assert.equal(verify.status, 0, verify.stdout + verify.stderr);
      assert.match(verify.stdout, /Signature verification: ok/);
    }
    const tampered = join(work, 'tampered.msi');
    copyFileSync(msi, tampered);
    const bytes = readFileSync(tampered);
    const middle = bytes.length >> 1;
    bytes.writeUInt8(bytes.readUInt8(middle) ^ 0xff, middle);
    writeFileSync(tampered, bytes);
    assert.notEqual(spawnSync('osslsigncode', ['verify', '-CAfile', cert, '-in', tampered]).status, 0);
    assert.ok(existsSync(msi));
  });
});

test('without a Windows nats-server the MSI build skips with a message saying where to get one', { skip: missing.length > 0 && `missing ${missing.join(', ')}` }, () => {
  const out = execFileSync(process.execPath, [join(root, 'deploy/agent/build-msi.ts')], {
    cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], env: { ...process.env, HALO_NATS_SERVER_WINDOWS: join(tmpdir(), 'no-such-nats-server.exe') },
  });
  assert.match(out, /build-msi: skipping the MSI: no Windows nats-server at .*no-such-nats-server\.exe: download nats-server-v2\.12\.x-windows-amd64\.zip/);
});
