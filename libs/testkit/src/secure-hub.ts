import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { NatsServerProcess } from '@halo/nats-server';
import { createSecureSetup, renderSecureHubConfig, type SecureSetup } from '@halo/nats-auth';
import type { Logger } from '@halo/log';

/** A hub in operator/JWT mode with leafnode TLS, and the secrets folder it was set up from. */
export interface RunningSecureHub {
  readonly server: NatsServerProcess;
  readonly clientUrl: string;
  /** nats-leaf://127.0.0.1:<port>; TLS is required on it (the CA is setup.tls.caFile). */
  readonly leafUrl: string;
  readonly dir: string;
  /** What `halo-admin init` wrote: operator, accounts, service creds, TLS files (absolute paths). */
  readonly setup: SecureSetup;
  close(): Promise<void>;
}

/**
 * Runs the secure setup as a deployment would (createSecureSetup, then a hub from hub-secure.conf.tmpl) on
 * random loopback ports, with a freshly generated CA and hub certificate.
 */
export async function launchSecureHub(options: { dir?: string; log?: Logger; name?: string } = {}): Promise<RunningSecureHub> {
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'halo-secure-hub-'));
  const owned = options.dir === undefined;
  const name = options.name ?? `hub-${randomUUID().slice(0, 8)}`;
  try {
    const setup = createSecureSetup(join(dir, 'secrets'));
    const config = renderSecureHubConfig(setup, {
      serverName: name, clientPort: -1, leafPort: -1, storeDir: join(dir, 'jetstream'), resolverDir: join(dir, 'jwt'),
    });
    const server = new NatsServerProcess({ config, dir: join(dir, 'hub'), name, ...(options.log ? { log: options.log } : {}) });
    await server.start();
    return {
      server,
      clientUrl: server.clientUrl,
      leafUrl: server.leafUrl,
      dir,
      setup,
      async close() {
        await server.close();
        if (owned) rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    if (owned) rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}
