import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { AppError } from '@halo/contracts';
import { createLogger } from '@halo/log';
import { connectNats, requestJson, serveJson } from '@halo/messaging';
import { versionAtLeast, findNatsServer, binaryVersion, MIN_NATS_SERVER_VERSION } from '@halo/nats-server';
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
