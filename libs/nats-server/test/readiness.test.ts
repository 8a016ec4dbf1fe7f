// The readiness scan against a stand-in nats-server that writes its lines in pieces, as a pipe may deliver them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

test('a "Server is ready" line split across stderr writes is still seen', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'halo-ready-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const fake = join(dir, 'nats-server');
  writeFileSync(fake, [
    '#!/bin/sh',
    'if [ "$1" = "--version" ]; then echo "nats-server: v2.15.1"; exit 0; fi',
    'printf "[1] [INF] Listening for client connections on 127.0.0.1:4" >&2; sleep 0.2',
    'printf "1234\\n[1] [INF] Server is re" >&2; sleep 0.2',
    'printf "ady\\n" >&2',
    'exec sleep 30',
  ].join('\n'));
  chmodSync(fake, 0o755);
  process.env.HALO_NATS_SERVER = fake;
  const { NatsServerProcess } = await import('../src/index.ts');
  const server = new NatsServerProcess({ config: 'listen: "127.0.0.1:-1"\n', dir, name: 'fake', readyTimeoutMs: 5_000 });
  t.after(() => server.close());
  await server.start();
  assert.equal(server.ports.client, 41234);
});
