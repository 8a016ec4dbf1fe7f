// deploy/systemd and deploy/haproxy are verified, not run: systemd is not PID 1 on these machines. The units are
// copied with /opt/halo and /usr/bin/nats-server pointed at this checkout (verify checks that ExecStart exists).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { projectRoot } from '@halo/config';
import { generateCertificates } from '@halo/nats-auth';
import { findNatsServer } from '@halo/nats-server';

const root = projectRoot();
const has = (command: string) => spawnSync('sh', ['-c', `command -v ${command}`]).status === 0;
const UNITS = { 'halo-hub@.service': 'halo-hub@halo-hub-1.service', 'halo-registry@.service': 'halo-registry@1.service', 'halo-facade@.service': 'halo-facade@1.service', 'halo-worker@.service': 'halo-worker@1.service', 'halo-haproxy.service': 'halo-haproxy.service' } as const;
const ACCEPTED = new Set(['SAFE', 'OK', 'MEDIUM']);

test('every deploy/systemd unit passes systemd-analyze verify and rates MEDIUM or better', { skip: has('systemd-analyze') ? false : 'systemd-analyze is not installed (.ci/run installs the systemd package)' }, (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'halo-units-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const files = readdirSync(join(root, 'deploy/systemd')).filter((f) => f.endsWith('.service')).sort();
  assert.deepEqual(files, Object.keys(UNITS).sort());
  for (const file of files) {
    const text = readFileSync(join(root, 'deploy/systemd', file), 'utf8').replaceAll('/opt/halo', root).replaceAll('/usr/bin/nats-server', findNatsServer());
    writeFileSync(join(dir, file), text);
  }
  const instances = Object.values(UNITS);
  const verify = spawnSync('systemd-analyze', ['verify', '--man=no', ...instances], { cwd: dir, encoding: 'utf8' });
  assert.equal(verify.status, 0, verify.stderr);
  assert.equal(verify.stderr.trim(), '', `systemd-analyze verify complained:\n${verify.stderr}`);
  for (const unit of instances) {
    const security = spawnSync('systemd-analyze', ['security', '--offline=yes', '--no-pager', unit], { cwd: dir, encoding: 'utf8' });
    const m = /Overall exposure level for \S+: ([\d.]+) (\w+)/.exec(security.stdout);
    assert.ok(m, `no rating for ${unit}:\n${security.stdout}${security.stderr}`);
    t.diagnostic(`${unit}: ${m[1]} ${m[2]}`);
    assert.ok(ACCEPTED.has(m[2]!), `${unit} is rated ${m[1]} ${m[2]}, worse than MEDIUM`);
  }
  // The hub stops by lame duck, and waits longer than halo-admin's default lame duck (10 s grace + 30 s).
  const hub = readFileSync(join(dir, 'halo-hub@.service'), 'utf8');
  assert.match(hub, /^KillSignal=SIGUSR2$/m);
  assert.ok(Number(/^TimeoutStopSec=(\d+)$/m.exec(hub)?.[1]) > 40);
});

test('deploy/haproxy/haproxy.cfg is valid for haproxy -c, with health checks on /health/ready', { skip: has('haproxy') ? false : 'haproxy is not installed (.ci/run installs it)' }, (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'halo-haproxy-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const certs = generateCertificates(join(dir, 'tls'));
  const pem = join(dir, 'lb.pem');
  writeFileSync(pem, `${readFileSync(certs.certFile, 'utf8')}${readFileSync(certs.keyFile, 'utf8')}`);
  const config = join(root, 'deploy/haproxy/haproxy.cfg');
  const env = { ...process.env, HALO_LB_BIND: '127.0.0.1:8443', HALO_LB_CERT: pem, HALO_FACADE_CA_FILE: certs.caFile, HALO_FACADE_1: '127.0.0.1:9001', HALO_FACADE_2: '127.0.0.1:9002' };
  const check = spawnSync('haproxy', ['-c', '-f', config], { env, encoding: 'utf8' });
  assert.equal(check.status, 0, `${check.stdout}${check.stderr}`);
  assert.match(check.stdout, /Configuration file is valid/);
  const text = readFileSync(config, 'utf8');
  assert.match(text, /option httpchk GET \/health\/ready/);
  assert.match(text, /timeout http-request \d+s/);
  assert.match(text, /ssl verify required ca-file/);
  // A missing variable is an error, not a silently empty address.
  const broken = spawnSync('haproxy', ['-c', '-f', config], { env: { ...env, HALO_LB_CERT: join(dir, 'absent.pem') }, encoding: 'utf8' });
  assert.notEqual(broken.status, 0);
});
