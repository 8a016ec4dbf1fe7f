import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findNatsServer } from '@halo/nats-server';
import { decodeJwt, parseCreds } from '@halo/nats-auth';
import { runAdmin } from '../src/cli.ts';

test('halo-admin init writes an operator setup and a hub config nats-server accepts', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'halo-admin-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const { setup, hubConfigFile = '', created } = runAdmin(['init', '--dir', join(dir, 's'), '--client-port=-1', '--leaf-port=-1']);
  assert.equal(created, true);
  const check = spawnSync(findNatsServer(), ['-c', hubConfigFile, '-t'], { encoding: 'utf8' });
  assert.equal(check.status, 0, check.stderr);
  assert.match(`${check.stdout}${check.stderr}`, /is valid/);
  const conf = readFileSync(hubConfigFile, 'utf8');
  assert.match(conf, /type: full/);
  assert.ok(conf.includes(setup.accounts.production.publicKey) && conf.includes(setup.accounts.staging.publicKey));
  const operator = decodeJwt(readFileSync(setup.operator.jwtFile, 'utf8'));
  assert.equal(operator.nats.system_account, setup.systemAccount.publicKey);
  const prod = decodeJwt(readFileSync(setup.accounts.production.jwtFile, 'utf8'));
  assert.equal(prod.iss, setup.operator.signingKey);
  assert.equal((prod.nats.signing_keys as Array<{ role: string }>)[0]!.role, 'halo-link');
  assert.equal(statSync(setup.accounts.production.creds.facade).mode & 0o777, 0o600);
  const facade = decodeJwt(parseCreds(readFileSync(setup.accounts.production.creds.facade, 'utf8')).jwt);
  assert.deepEqual(facade.nats.allowed_connection_types, ['STANDARD']);
  assert.throws(() => runAdmin(['init', '--dir', join(dir, 's')]), /already holds a setup/);
  assert.equal(runAdmin(['init', '--dir', join(dir, 's'), '--if-missing']).created, false);
  assert.throws(() => runAdmin(['nope']), /usage/);
});

test('halo-admin init --nodes 3 issues a certificate per node and renders configs nats-server accepts', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'halo-admin-cluster-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const args = ['init', '--dir', join(dir, 's'), '--nodes', '3', '--node-host', 'hub-a.internal', '--node-host', 'hub-b.internal', '--node-host', '10.0.0.7', '--ws-port', '8443'];
  const { cluster, setup } = runAdmin(args);
  assert.ok(cluster);
  assert.deepEqual(cluster.nodes.map((n) => n.node.name), ['halo-hub-1', 'halo-hub-2', 'halo-hub-3']);
  assert.deepEqual(cluster.urls.websocket, ['wss://hub-a.internal:8443', 'wss://hub-b.internal:8443', 'wss://10.0.0.7:8443']);
  for (const { configFile, certFile, node } of cluster.nodes) {
    const check = spawnSync(findNatsServer(), ['-c', configFile, '-t'], { encoding: 'utf8' });
    assert.equal(check.status, 0, check.stderr);
    const conf = readFileSync(configFile, 'utf8');
    // Routes name the two other nodes, mutual TLS on them; lame duck, monitoring and wss are set.
    const routes = [...conf.matchAll(/nats-route:\/\/([^"]+)/g)].map((m) => m[1]);
    assert.deepEqual(routes, cluster.nodes.filter((n) => n.node !== node).map((n) => `${n.node.host}:6222`));
    assert.match(conf, /verify: true/);
    assert.match(conf, /lame_duck_duration: "30s"/);
    assert.match(conf, /websocket \{\s*listen: "0\.0\.0\.0:8443"/);
    assert.match(conf, /http: "0\.0\.0\.0:8222"/);
    assert.match(conf, /type: full/);
    const san = spawnSync('openssl', ['x509', '-in', certFile, '-noout', '-ext', 'subjectAltName,extendedKeyUsage'], { encoding: 'utf8' }).stdout;
    assert.ok(san.includes(/^[\d.]+$/.test(node.host) ? `IP Address:${node.host}` : `DNS:${node.host}`), san);
    assert.match(san, /TLS Web Server Authentication, TLS Web Client Authentication/);
    const verify = spawnSync('openssl', ['verify', '-CAfile', setup.tls.caFile, certFile], { encoding: 'utf8' });
    assert.equal(verify.status, 0, verify.stderr);
    assert.equal(statSync(configFile).mode & 0o777, 0o600);
  }
  const env = readFileSync(cluster.envFile, 'utf8');
  assert.match(env, /^HALO_NATS_URL=tls:\/\/hub-a\.internal:4222,tls:\/\/hub-b\.internal:4222,tls:\/\/10\.0\.0\.7:4222$/m);
  assert.match(env, /^HALO_JS_REPLICAS=3$/m);
  // Rendering again keeps the setup and every node's certificate.
  const certBefore = readFileSync(cluster.nodes[0]!.certFile, 'utf8');
  const again = runAdmin([...args, '--if-missing']);
  assert.equal(again.created, false);
  assert.equal(readFileSync(again.cluster!.nodes[0]!.certFile, 'utf8'), certBefore);
  assert.throws(() => runAdmin(['init', '--dir', join(dir, 't'), '--nodes', '3']), /--port-step/);
  assert.throws(() => runAdmin(['init', '--dir', join(dir, 't'), '--nodes', '3', '--node-host', 'a', '--node-host', 'b']), /once per node/);
  assert.throws(() => runAdmin(['init', '--dir', join(dir, 't'), '--nodes', '2', '--port-step', '10', '--lame-duck-grace', 'soon']), /duration/);
});
