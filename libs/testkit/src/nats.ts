import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { NatsServerProcess, renderNatsConfig } from '@halo/nats-server';
import type { Logger } from '@halo/log';

/** A running nats-server plus the temp folder it owns; close() stops it and removes the folder. */
export interface RunningServer {
  readonly server: NatsServerProcess;
  readonly clientUrl: string;
  readonly dir: string;
  close(): Promise<void>;
}

export interface RunningHub extends RunningServer {
  readonly leafUrl: string;
}

function tempDir(prefix: string, parent?: string): string {
  return mkdtempSync(join(parent ?? tmpdir(), prefix));
}

/** Starts a hub (JetStream, leafnode listener) on random loopback ports. */
export async function launchHub(options: { dir?: string; log?: Logger; name?: string } = {}): Promise<RunningHub> {
  const dir = options.dir ?? tempDir('halo-hub-');
  const owned = options.dir === undefined;
  const name = options.name ?? `hub-${randomUUID().slice(0, 8)}`;
  const config = renderNatsConfig('hub.conf.tmpl', { serverName: name, clientPort: -1, leafPort: -1, storeDir: join(dir, 'jetstream') });
  const server = new NatsServerProcess({ config, dir, name, ...(options.log ? { log: options.log } : {}) });
  try {
    await server.start();
  } catch (err) {
    if (owned) rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    server,
    clientUrl: server.clientUrl,
    leafUrl: server.leafUrl,
    dir,
    async close() {
      await server.close();
      if (owned) rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Starts a leaf node connected to `hubLeafUrl` with its client port on a random loopback port. With `secure`, the
 * remote carries that user's creds and verifies the hub's leafnode TLS certificate against `caFile` (a secure hub).
 */
export async function launchLeaf(
  hubLeafUrl: string,
  options: { dir?: string; log?: Logger; name?: string; supervise?: boolean; secure?: { credsFile: string; caFile: string } } = {},
): Promise<RunningServer> {
  const dir = options.dir ?? tempDir('halo-leaf-');
  const owned = options.dir === undefined;
  const name = options.name ?? `leaf-${randomUUID().slice(0, 8)}`;
  const hubLeafUrls = JSON.stringify(hubLeafUrl);
  const config = options.secure
    ? renderNatsConfig('leaf-secure.conf.tmpl', { serverName: name, clientPort: -1, hubLeafUrls, credsFile: options.secure.credsFile, caFile: options.secure.caFile, proxy: '' })
    : renderNatsConfig('leaf.conf.tmpl', { serverName: name, clientPort: -1, hubLeafUrls, proxy: '' });
  const server = new NatsServerProcess({ config, dir, name, supervise: options.supervise ?? false, ...(options.log ? { log: options.log } : {}) });
  try {
    await server.start();
  } catch (err) {
    if (owned) rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    server,
    clientUrl: server.clientUrl,
    dir,
    async close() {
      await server.close();
      if (owned) rmSync(dir, { recursive: true, force: true });
    },
  };
}
