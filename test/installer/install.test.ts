// `halo-link install --root` of the built agent: the files, modes and units it writes (the units checked by
// `systemd-analyze verify --root`, as systemd is not PID 1 here), the `--database` flag form, and a clear
// exit code 2 with a message for every bad input, leaving nothing half-written.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { agentBuild } from './agent-build.ts';

const TOKEN = 'a'.repeat(43);
const SYSTEMD_UNITS = '/usr/lib/systemd/system';

test('install --root writes the program side by side, a 0600 config, the state folder and verified units', async (t) => {
  const dist = agentBuild();
  const work = mkdtempSync(join(tmpdir(), 'halo-install-'));
  t.after(() => rmSync(work, { recursive: true, force: true }));
  const halo = (...args: string[]) => spawnSync(join(dist, 'halo-link'), args, { cwd: work, encoding: 'utf8', env: { PATH: '/nonexistent' } });
  const version = execFileSync(join(dist, 'halo-link'), ['--version'], { encoding: 'utf8' }).trim().replace(/^halo-link /, '');
  writeFileSync(join(work, 'dbs.json'), JSON.stringify({ databases: [{ name: 'main', engine: 'sqlite', path: 'practice.db', profile: 'sample' }] }));
  const base = ['--enrol-url', 'https://hub.example:8443/', '--token', TOKEN];

  await t.test('files, modes and config', () => {
    const root = join(work, 'root');
    const run = halo('install', '--root', root, ...base, '--env', 'staging', '--databases', 'dbs.json', '--update-url', 'https://updates.example/halo-link/manifest.json');
    assert.equal(run.status, 0, run.stderr);
    assert.equal(readlinkSync(join(root, 'opt/halo-link/current')), join('versions', version));
    for (const file of ['halo-link', 'nats-server', 'better_sqlite3.node']) assert.ok(existsSync(join(root, 'opt/halo-link/versions', version, file)), file);
    const configFile = join(root, 'etc/halo-link/config.json');
    assert.equal(statSync(configFile).mode & 0o777, 0o600);
    const config = JSON.parse(readFileSync(configFile, 'utf8'));
    assert.deepEqual(config, {
      env: 'staging',
      stateDir: join(root, 'var/lib/halo-link'),
      enrolment: { url: 'https://hub.example:8443/', token: TOKEN },
      update: { manifestUrl: 'https://updates.example/halo-link/manifest.json' },
      databases: [{ name: 'main', engine: 'sqlite', path: join(work, 'practice.db'), profile: 'sample' }],
    });
    assert.equal(readFileSync(join(root, 'usr/lib/sysusers.d/halo-link.conf'), 'utf8'), 'u halo-link - "Halo Link" /var/lib/halo-link /usr/sbin/nologin\n');
    const unit = readFileSync(join(root, 'etc/systemd/system/halo-link.service'), 'utf8');
    assert.match(unit, /^ExecStart=\/opt\/halo-link\/current\/halo-link run --config \/etc\/halo-link\/config\.json$/m);
    assert.match(unit, /^User=halo-link$/m);
    assert.match(readFileSync(join(root, 'etc/systemd/system/halo-link-update.timer'), 'utf8'), /^OnCalendar=hourly$/m);
    // A second install (same version) keeps one copy and points current at it again.
    assert.equal(halo('install', '--root', root, ...base, '--databases', 'dbs.json').status, 0);
    const status = JSON.parse(halo('status', '--json', '--root', root).stdout);
    assert.deepEqual([status.version, status.versions, status.enrolled, status.env], [version, [version], false, 'production']);
  });

  await t.test('systemd-analyze verify --root accepts the units (and catches a broken one)', (t) => {
    const analyze = ['/usr/bin/systemd-analyze', '/bin/systemd-analyze'].find((p) => existsSync(p));
    if (!analyze || !existsSync(SYSTEMD_UNITS)) return t.skip('systemd-analyze (Debian systemd) is not installed: .ci/run installs it');
    const root = join(work, 'verify');
    assert.equal(halo('install', '--root', root, ...base, '--databases', 'dbs.json').status, 0);
    // The units depend on the standard targets (network-online, multi-user, timers): the distribution's, in the root.
    mkdirSync(join(root, 'usr/lib/systemd'), { recursive: true });
    cpSync(SYSTEMD_UNITS, join(root, 'usr/lib/systemd/system'), { recursive: true });
    const units = ['halo-link.service', 'halo-link-update.service', 'halo-link-update.timer'].map((u) => `/etc/systemd/system/${u}`);
    const verify = () => spawnSync(analyze, ['verify', `--root=${root}`, ...units], { encoding: 'utf8' });
    const ok = verify();
    assert.equal(ok.status, 0, ok.stderr);
    assert.equal(ok.stderr.trim(), '');
    // The check is real: without the executable the service unit is refused.
    rmSync(join(root, 'opt/halo-link/current'));
    const broken = verify();
    assert.notEqual(broken.status, 0);
    assert.match(broken.stderr, /halo-link\.service: Command \/opt\/halo-link\/current\/halo-link is not executable/);
  });

  await t.test('a token that starts with a dash (base64url) is taken as the value of --token', () => {
    const root = join(work, 'dash');
    const token = `-${'b'.repeat(42)}`;
    const run = halo('install', '--root', root, '--enrol-url', 'https://hub.example/', '--token', token, '--databases', 'dbs.json');
    assert.equal(run.status, 0, run.stderr);
    assert.equal(JSON.parse(readFileSync(join(root, 'etc/halo-link/config.json'), 'utf8')).enrolment.token, token);
  });

  await t.test('--database key=value,... entries', () => {
    const root = join(work, 'flags');
    const run = halo('install', '--root', root, ...base, '--database', 'name=a,engine=sqlite,path=/srv/a.db,profile=sample,maxConcurrency=2', '--database', 'name=b,engine=sqlite,path=b.db,profile=sample');
    assert.equal(run.status, 0, run.stderr);
    const { databases } = JSON.parse(readFileSync(join(root, 'etc/halo-link/config.json'), 'utf8'));
    assert.deepEqual(databases, [
      { name: 'a', engine: 'sqlite', path: '/srv/a.db', profile: 'sample', maxConcurrency: 2 },
      { name: 'b', engine: 'sqlite', path: join(work, 'b.db'), profile: 'sample' },
    ]);
  });

  await t.test('bad input: exit 2, a message naming the problem, nothing installed', () => {
    writeFileSync(join(work, 'bad-dbs.json'), JSON.stringify([{ name: 'x', engine: 'sqlite', profile: 'sample' }]));
    writeFileSync(join(work, 'not-pem.txt'), 'hello');
    const cases: Array<[string[], RegExp]> = [
      [['--token', TOKEN, '--databases', 'dbs.json'], /missing --enrol-url/],
      [['--enrol-url', 'ftp://x/', '--token', TOKEN, '--databases', 'dbs.json'], /not an http\(s\) URL/],
      [['--enrol-url', 'https://x/', '--token', 'short', '--databases', 'dbs.json'], /not an enrolment token/],
      [[...base], /give the databases/],
      [[...base, '--databases', 'missing.json'], /cannot read the databases file/],
      [[...base, '--databases', 'bad-dbs.json'], /databases\.0\.path/],
      [[...base, '--database', 'name'], /"name" is not key=value/],
      [[...base, '--databases', 'dbs.json', '--env', 'dev'], /--env dev: must be staging or production/],
      [[...base, '--databases', 'dbs.json', '--ca-file', 'not-pem.txt'], /not a PEM certificate/],
      [[...base, '--databases', 'dbs.json', '--bogus'], /Unknown option '--bogus'/],
    ];
    for (const [args, message] of cases) {
      const root = join(work, 'refused');
      const run = halo('install', '--root', root, ...args);
      assert.equal(run.status, 2, `${args.join(' ')}: ${run.stderr}`);
      assert.match(run.stderr, message);
      assert.ok(!existsSync(root), `${args.join(' ')}: nothing written`);
    }
  });
});
