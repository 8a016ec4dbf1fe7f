// Where an installation keeps its files on Linux and Windows (path.win32: Windows paths are checked here, on
// Linux), under a --root prefix, and the --database flag form.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { installLayout } from '../src/install/layout.ts';
import { parseDatabaseFlag } from '../src/install/install.ts';
import { systemdUnits } from '../src/install/systemd-units.ts';

test('Windows: Program Files for the program, ProgramData for config, state and logs', () => {
  const layout = installLayout('win32');
  assert.equal(layout.programDir, 'C:\\Program Files\\Halo Link');
  assert.equal(layout.executable, 'C:\\Program Files\\Halo Link\\current\\halo-link.exe');
  assert.equal(layout.configFile, 'C:\\ProgramData\\Halo Link\\config.json');
  assert.equal(layout.stateDir, 'C:\\ProgramData\\Halo Link\\state');
  assert.equal(layout.logs, 'C:\\ProgramData\\Halo Link\\logs');
  // The machine's own folders (another drive, say) and forward slashes as Windows accepts them.
  const other = installLayout('win32', '', { programFiles: 'D:/Apps', programData: 'E:\\Data\\' });
  assert.equal(other.executable, 'D:\\Apps\\Halo Link\\current\\halo-link.exe');
  assert.equal(other.configFile, 'E:\\Data\\Halo Link\\config.json');
  // Under a prefix the drive letter goes: C:\Program Files -> <root>\Program Files.
  const rooted = installLayout('win32', 'T:\\stage');
  assert.equal(rooted.programDir, 'T:\\stage\\Program Files\\Halo Link');
  assert.equal(rooted.stateDir, 'T:\\stage\\ProgramData\\Halo Link\\state');
});

test('Linux: /opt, /etc, /var/lib, the journal; a prefix goes in front of each', () => {
  const layout = installLayout('linux');
  assert.deepEqual([layout.executable, layout.configFile, layout.stateDir, layout.unitDir, layout.logs],
    ['/opt/halo-link/current/halo-link', '/etc/halo-link/config.json', '/var/lib/halo-link', '/etc/systemd/system', 'journalctl -u halo-link']);
  const rooted = installLayout('linux', '/tmp/r');
  assert.equal(rooted.executable, '/tmp/r/opt/halo-link/current/halo-link');
  // The units always name the real paths, whatever the prefix.
  const units = systemdUnits(installLayout('linux'));
  assert.deepEqual(Object.keys(units), ['halo-link.service', 'halo-link-update.service', 'halo-link-update.timer']);
  assert.match(units['halo-link-update.timer']!, /^RandomizedDelaySec=30min$/m);
});

test('--database key=value,...: numbers and booleans typed, relative paths from the working folder', () => {
  assert.deepEqual(parseDatabaseFlag('name=a,engine=sqlite,path=/srv/a.db,profile=sample,allowWrites=false,maxConcurrency=8'),
    { name: 'a', engine: 'sqlite', path: '/srv/a.db', profile: 'sample', allowWrites: false, maxConcurrency: 8 });
  assert.equal(parseDatabaseFlag('name=b,engine=sqlite,path=b.db,profile=sample').path, `${process.cwd()}/b.db`);
  assert.throws(() => parseDatabaseFlag('name=a,oops'), /"oops" is not key=value/);
});
