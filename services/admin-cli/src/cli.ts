import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { initSecureSetup, renderSecureHubConfig, type SecureSetup } from '@halo/nats-auth';

export const USAGE = `usage: halo-admin init --dir <secrets dir> [--hub-name <name>] [--client-port <n>] [--leaf-port <n>]
                          [--leaf-host <host>] [--tls-host <name or IP> ...] [--if-missing]

Creates the NATS operator (with a signing key), the SYS account and the PROD and STAGING accounts (JetStream, a
scoped signing key for Halo Link users), creds for the registry, facade and worker of each environment, SYS
users, a CA and hub certificate, and hub.conf (full account resolver, resolver_preload, leafnode TLS).
--if-missing: keep an existing setup in --dir and only render hub.conf again.`;

/** What `init` wrote, for printing. */
export interface InitResult {
  created: boolean;
  setup: SecureSetup;
  hubConfigFile: string;
}

/** Runs `halo-admin <args>`; returns what to print. Throws with USAGE on bad arguments. */
export function runAdmin(argv: readonly string[]): InitResult {
  const { values, positionals } = parseArgs({
    args: [...argv],
    allowPositionals: true,
    options: {
      dir: { type: 'string' },
      'hub-name': { type: 'string', default: 'halo-hub' },
      'client-port': { type: 'string', default: '4222' },
      'leaf-port': { type: 'string', default: '7422' },
      'leaf-host': { type: 'string', default: '127.0.0.1' },
      'tls-host': { type: 'string', multiple: true },
      'if-missing': { type: 'boolean', default: false },
    },
  });
  if (positionals[0] !== 'init' || positionals.length !== 1 || !values.dir) throw new Error(USAGE);
  const dir = resolve(values.dir);
  const port = (name: string, text: string) => {
    const n = Number(text);
    if (!Number.isInteger(n) || n < -1 || n > 65_535) throw new Error(`--${name} must be a port (or -1 for any)`);
    return n;
  };
  const { created, setup } = initSecureSetup(dir, { ifMissing: values['if-missing'], ...(values['tls-host'] ? { tlsHosts: values['tls-host'] } : {}) });
  const hubDir = join(dir, 'hub');
  mkdirSync(hubDir, { recursive: true, mode: 0o700 });
  const hubConfigFile = join(hubDir, 'hub.conf');
  writeFileSync(hubConfigFile, renderSecureHubConfig(setup, {
    serverName: values['hub-name'],
    clientPort: port('client-port', values['client-port']),
    leafPort: port('leaf-port', values['leaf-port']),
    leafHost: values['leaf-host'],
    storeDir: join(hubDir, 'jetstream'),
    resolverDir: join(hubDir, 'jwt'),
  }), { mode: 0o600 });
  return { created, setup, hubConfigFile };
}
