import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { AppError } from '@halo/contracts';
import { createLogger } from '@halo/log';
import { connectNats, requestJson, serveJson } from '@halo/messaging';
import { versionAtLeast, findNatsServer, binaryVersion, MIN_NATS_SERVER_VERSION, NatsServerProcess, renderNatsConfig } from '@halo/nats-server';
import { cleanupStack, launchHub, launchLeaf } from '@halo/testkit';

const log = createLogger({ name: 'test', level: 'silent' });

test('versions are compared numerically', () => {
  assert.equal(versionAtLeast('2.12.7', '2.12.7'), true);
  assert.equal(versionAtLeast('2.15.1', '2.12.7'), true);
  assert.equal(versionAtLeast('2.9.10', '2.12.7'), false);
  assert.equal(versionAtLeast('2.12.10', '2.12.7'), true);
  assert.equal(versionAtLeast('garbage', '2.12.7'), false);
  const found = binaryVersion(findNatsServer());
  assert.ok(found && versionAtLeast(found, MIN_NATS_SERVER_VERSION), `found ${found}`);
});

test('a request through a leaf reaches a service on the hub, with coded errors both ways', async (t) => {
  const defer = cleanupStack(t);
  const hub = await launchHub();
  defer(() => hub.close());
  const leaf = await launchLeaf(hub.leafUrl);
  defer(() => leaf.close());
  const onHub = await connectNats({ servers: hub.clientUrl, name: 'svc', log });
  defer(() => onHub.close());
  const onLeaf = await connectNats({ servers: leaf.clientUrl, name: 'client', log });
  defer(() => onLeaf.close());

  serveJson(onHub, {
    subject: 'test.echo',
    schema: z.object({ n: z.number() }),
    log,
    handler: async ({ n }) => {
      if (n < 0) throw new AppError('bad_request', 'negative');
      return { doubled: n * 2 };
    },
  });
  await onHub.flush();
  const result = z.object({ doubled: z.number() });
  // Interest propagates to the leaf asynchronously.
  let answer: { doubled: number } | undefined;
  for (let i = 0; i < 50 && !answer; i++) {
    answer = await requestJson(onLeaf, 'test.echo', { n: 21 }, result, { timeoutMs: 2000, noResponders: 'site_offline' }).catch(() => undefined);
    if (!answer) await sleep(100);
  }
  assert.deepEqual(answer, { doubled: 42 });
  await assert.rejects(requestJson(onLeaf, 'test.echo', { n: -1 }, result, { timeoutMs: 2000, noResponders: 'site_offline' }), { code: 'bad_request', message: 'negative' });
  await assert.rejects(requestJson(onLeaf, 'test.echo', { n: 'x' }, result, { timeoutMs: 2000, noResponders: 'site_offline' }), { code: 'bad_request' });
  await assert.rejects(requestJson(onLeaf, 'test.nobody', {}, result, { timeoutMs: 2000, noResponders: 'site_offline' }), { code: 'site_offline' });
});

test('a supervised server comes back on the same port after it is killed', async (t) => {
  const defer = cleanupStack(t);
  const hub = await launchHub();
  defer(() => hub.close());
  const leaf = await launchLeaf(hub.leafUrl, { supervise: true });
  defer(() => leaf.close());
  const port = leaf.server.ports.client;
  const firstPid = leaf.server.pid;
  leaf.server.crash();
  for (let i = 0; i < 100 && (leaf.server.pid === firstPid || leaf.server.restartCount === 0); i++) await sleep(100);
  assert.equal(leaf.server.restartCount, 1);
  assert.notEqual(leaf.server.pid, firstPid);
  assert.equal(leaf.server.ports.client, port);
  const nc = await connectNats({ servers: leaf.clientUrl, name: 'after-restart', log });
  await nc.flush();
  await nc.close();
});

/** Running and not a zombie (Linux: /proc). */
function alive(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

async function eventually(check: () => boolean, timeoutMs = 10_000): Promise<boolean> {
  for (const end = Date.now() + timeoutMs; Date.now() < end; await sleep(100)) if (check()) return true;
  return check();
}

const LINUX_ONLY = process.platform === 'linux' ? false : 'the kernel parent-death signal and /proc are Linux';

test('a server does not outlive its owner killed with SIGKILL', { skip: LINUX_ONLY }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'halo-owner-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const owner = spawn(process.execPath, [new URL('./nats-server-owner.ts', import.meta.url).pathname, dir], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.after(() => owner.kill('SIGKILL'));
  const [line] = (await once(createInterface({ input: owner.stdout! }), 'line')) as [string];
  const { pid } = JSON.parse(line) as { pid: number };
  t.after(() => {
    if (alive(pid)) process.kill(pid, 'SIGKILL');
  });
  assert.ok(alive(pid));
  owner.kill('SIGKILL');
  await once(owner, 'exit');
  assert.ok(await eventually(() => !alive(pid)), `nats-server ${pid} outlived its owner`);
});

test('a server left over from a crashed owner is stopped by the next start from its folder', { skip: LINUX_ONLY }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'halo-leftover-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const config = renderNatsConfig('hub.conf.tmpl', { serverName: 'leftover', clientPort: -1, leafPort: -1, storeDir: join(dir, 'jetstream') });
  // What an owner without the parent-death signal leaves: a server of its config, its pid in the pid file.
  writeFileSync(join(dir, 'leaf.conf'), config);
  const leftover = spawn(findNatsServer(), ['-c', join(dir, 'leaf.conf')], { stdio: 'ignore', detached: true });
  t.after(() => leftover.kill('SIGKILL'));
  writeFileSync(join(dir, 'leaf.pid'), String(leftover.pid));
  const server = await new NatsServerProcess({ config, dir, name: 'leaf', log }).start();
  t.after(() => server.close());
  assert.ok(await eventually(() => !alive(leftover.pid!)), 'the leftover server still runs');
  assert.ok(alive(server.pid!));
});
