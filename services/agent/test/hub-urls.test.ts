import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findNatsServer, renderNatsConfig } from '@halo/nats-server';
import { AgentConfig } from '../src/index.ts';

const base = { stateDir: '/var/lib/halo-link', databases: [{ name: 'a', engine: 'sqlite', path: '/srv/a.db', profile: 'sample' }] };

test('hubLeafUrls: every hub node, leafnode or wss:// (not both); hubProxy only with wss://', () => {
  assert.ok(AgentConfig.safeParse({ ...base, hubLeafUrls: ['nats-leaf://hub-1:7422', 'nats-leaf://hub-2:7422', 'nats-leaf://hub-3:7422'] }).success);
  assert.ok(AgentConfig.safeParse({ ...base, hubLeafUrls: ['wss://hub-1:443', 'wss://hub-2:443'], hubProxy: { url: 'http://proxy.lan:3128', username: 'u', password: 'p' } }).success);
  const mixed = AgentConfig.safeParse({ ...base, hubLeafUrls: ['nats-leaf://hub-1:7422', 'wss://hub-2:443'] });
  assert.match(JSON.stringify(mixed.error?.issues), /not both/);
  const proxied = AgentConfig.safeParse({ ...base, hubLeafUrls: ['nats-leaf://hub-1:7422'], hubProxy: { url: 'http://proxy.lan:3128' } });
  assert.match(JSON.stringify(proxied.error?.issues), /hubProxy needs wss/);
  assert.equal(AgentConfig.safeParse({ ...base, hubLeafUrls: ['https://hub-1'] }).success, false);
});

test('a leaf config with wss:// remotes and an HTTP proxy is one nats-server accepts', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'halo-leaf-wss-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const proxy = `proxy ${JSON.stringify({ url: 'http://127.0.0.1:3128', username: 'u', password: 'p' })}`;
  const file = join(dir, 'leaf.conf');
  // The enrolled leaf's template: its tls block (the hub CA) is what a proxied wss:// remote needs.
  writeFileSync(join(dir, 'link.creds'), '');
  spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', join(dir, 'ca-key.pem'), '-out', join(dir, 'ca.pem'), '-days', '1', '-subj', '/CN=test CA']);
  writeFileSync(file, renderNatsConfig('leaf-secure.conf.tmpl', {
    serverName: 'leaf', clientPort: -1, hubLeafUrls: '"wss://127.0.0.1:8443", "wss://127.0.0.1:8444"', proxy, credsFile: join(dir, 'link.creds'), caFile: join(dir, 'ca.pem'),
  }));
  const check = spawnSync(findNatsServer(), ['-c', file, '-t'], { encoding: 'utf8' });
  assert.equal(check.status, 0, check.stderr);
});
