import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { z } from 'zod';
import { renderNatsConfig } from '@halo/nats-server';
import { Environment } from '@halo/contracts';
import {
  CLAIMS_PUSHER_PERMISSIONS, LINK_ROLE, SERVICE_PERMISSIONS, accountClaims, linkScopeTemplate, operatorClaims, userClaims,
  type Permissions, type ServiceRole,
} from './claims.ts';
import { formatCreds } from './creds.ts';
import { encodeJwt } from './jwt.ts';
import { createAccount, createOperator, createUser, keyFromSeed, seedOf, type KeyPair } from './keys.ts';
import { generateCertificates } from './tls-certs.ts';

/** The NATS account of each environment (ARCHITECTURE §3). */
export const ACCOUNT_NAMES = { production: 'PROD', staging: 'STAGING' } as const;

const EnvAccount = z.object({
  name: z.string(),
  publicKey: z.string(),
  jwtFile: z.string(),
  seedFile: z.string(),
  /** Scoped signing key for Halo Link users (the registry holds its seed). */
  linkSigningKey: z.string(),
  linkSigningSeedFile: z.string(),
  /** Service users' creds files by role. */
  creds: z.object({ registry: z.string(), facade: z.string(), worker: z.string() }),
});
export type EnvAccount = z.infer<typeof EnvAccount>;

/** manifest.json of a secrets folder: public keys and file names (relative to the folder); no secret in it. */
export const SecureSetup = z.object({
  version: z.literal(1),
  operator: z.object({ name: z.string(), publicKey: z.string(), jwtFile: z.string(), seedFile: z.string(), signingKey: z.string(), signingSeedFile: z.string() }),
  systemAccount: z.object({ publicKey: z.string(), jwtFile: z.string(), seedFile: z.string() }),
  accounts: z.object({ production: EnvAccount, staging: EnvAccount }),
  /** SYS users: `claims` may only push and look up account JWTs (the registry's); `admin` is unrestricted (operators). */
  sysCreds: z.object({ claims: z.string(), admin: z.string() }),
  tls: z.object({ caFile: z.string(), certFile: z.string(), keyFile: z.string() }),
});
export type SecureSetup = z.infer<typeof SecureSetup>;

const MANIFEST = 'manifest.json';

function writeSecret(path: string, content: string): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  writeFileSync(path, content, { mode: 0o600 });
  chmodSync(path, 0o600);
}

/** The manifest with every file name made absolute. */
function absolute(dir: string, setup: SecureSetup): SecureSetup {
  const abs = (p: string) => (isAbsolute(p) ? p : resolve(dir, p));
  const env = (a: EnvAccount): EnvAccount => ({
    ...a, jwtFile: abs(a.jwtFile), seedFile: abs(a.seedFile), linkSigningSeedFile: abs(a.linkSigningSeedFile),
    creds: { registry: abs(a.creds.registry), facade: abs(a.creds.facade), worker: abs(a.creds.worker) },
  });
  return {
    ...setup,
    operator: { ...setup.operator, jwtFile: abs(setup.operator.jwtFile), seedFile: abs(setup.operator.seedFile), signingSeedFile: abs(setup.operator.signingSeedFile) },
    systemAccount: { ...setup.systemAccount, jwtFile: abs(setup.systemAccount.jwtFile), seedFile: abs(setup.systemAccount.seedFile) },
    accounts: { production: env(setup.accounts.production), staging: env(setup.accounts.staging) },
    sysCreds: { claims: abs(setup.sysCreds.claims), admin: abs(setup.sysCreds.admin) },
    tls: { caFile: abs(setup.tls.caFile), certFile: abs(setup.tls.certFile), keyFile: abs(setup.tls.keyFile) },
  };
}

/** Reads a secrets folder made by createSecureSetup; file names come back absolute. */
export function loadSecureSetup(dir: string): SecureSetup {
  const parsed = SecureSetup.parse(JSON.parse(readFileSync(join(dir, MANIFEST), 'utf8')));
  return absolute(resolve(dir), parsed);
}

export function hasSecureSetup(dir: string): boolean {
  return existsSync(join(dir, MANIFEST));
}

export interface CreateSetupOptions {
  operatorName?: string;
  /** DNS names and IPs the hub's (and facade's) TLS certificate is for; default localhost and 127.0.0.1. */
  tlsHosts?: string[];
}

function mintUser(account: KeyPair, name: string, permissions: Permissions, connectionTypes?: Array<'STANDARD' | 'LEAFNODE'>): string {
  const user = createUser();
  const jwt = encodeJwt(userClaims({ userKey: user.getPublicKey(), name, permissions, ...(connectionTypes ? { allowedConnectionTypes: connectionTypes } : {}) }), account);
  return formatCreds(jwt, seedOf(user));
}

/**
 * Creates the operator (identity key plus a signing key), the SYS account, the PROD and STAGING accounts
 * (each with JetStream and a scoped signing key for Halo Link users), the service users' creds, a SYS user for
 * account updates, and a CA plus hub certificate. Refuses a folder that already holds a setup.
 */
export function createSecureSetup(dir: string, options: CreateSetupOptions = {}): SecureSetup {
  dir = resolve(dir);
  if (hasSecureSetup(dir)) throw new Error(`${dir} already holds a NATS setup (${MANIFEST}); refusing to overwrite it`);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const operator = createOperator();
  const operatorSigning = createOperator();
  const sys = createAccount();
  const operatorName = options.operatorName ?? 'halo';

  writeSecret(join(dir, 'operator', 'operator.nk'), seedOf(operator));
  writeSecret(join(dir, 'operator', 'signing.nk'), seedOf(operatorSigning));
  writeSecret(join(dir, 'operator', 'operator.jwt'), encodeJwt(operatorClaims({
    operatorKey: operator.getPublicKey(), name: operatorName, signingKeys: [operatorSigning.getPublicKey()], systemAccount: sys.getPublicKey(),
  }), operator));

  writeSecret(join(dir, 'accounts', 'SYS.nk'), seedOf(sys));
  writeSecret(join(dir, 'accounts', 'SYS.jwt'), encodeJwt(accountClaims({ accountKey: sys.getPublicKey(), name: 'SYS', jetstream: false }), operatorSigning));
  writeSecret(join(dir, 'creds', 'sys-claims.creds'), mintUser(sys, 'halo-claims-pusher', CLAIMS_PUSHER_PERMISSIONS, ['STANDARD']));
  writeSecret(join(dir, 'creds', 'sys-admin.creds'), mintUser(sys, 'halo-admin', { pub: { allow: ['>'] }, sub: { allow: ['>'] } }, ['STANDARD']));

  const accounts = {} as Record<Environment, EnvAccount>;
  for (const env of Environment.options) {
    const name = ACCOUNT_NAMES[env];
    const account = createAccount();
    const linkSigning = createAccount();
    writeSecret(join(dir, 'accounts', `${name}.nk`), seedOf(account));
    writeSecret(join(dir, 'accounts', `${name}.link-signing.nk`), seedOf(linkSigning));
    writeSecret(join(dir, 'accounts', `${name}.jwt`), encodeJwt(accountClaims({
      accountKey: account.getPublicKey(), name, jetstream: true, description: `Halo ${env}`,
      signingKeys: [{ kind: 'user_scope', key: linkSigning.getPublicKey(), role: LINK_ROLE, template: linkScopeTemplate(), description: 'Halo Link users (one link each)' }],
    }), operatorSigning));
    const creds = {} as Record<ServiceRole, string>;
    for (const role of Object.keys(SERVICE_PERMISSIONS) as ServiceRole[]) {
      const file = join('creds', `${env}-${role}.creds`);
      const perms = SERVICE_PERMISSIONS[role];
      writeSecret(join(dir, file), mintUser(account, `halo-${role}-${env}`, { pub: { allow: [...perms.pub.allow] }, sub: { allow: [...perms.sub.allow] } }, ['STANDARD']));
      creds[role] = file;
    }
    accounts[env] = {
      name, publicKey: account.getPublicKey(), jwtFile: join('accounts', `${name}.jwt`), seedFile: join('accounts', `${name}.nk`),
      linkSigningKey: linkSigning.getPublicKey(), linkSigningSeedFile: join('accounts', `${name}.link-signing.nk`),
      creds: { registry: creds.registry, facade: creds.facade, worker: creds.worker },
    };
  }

  generateCertificates(join(dir, 'tls'), { hosts: options.tlsHosts ?? ['localhost', '127.0.0.1'], name: 'hub' });
  const setup: SecureSetup = {
    version: 1,
    operator: {
      name: operatorName, publicKey: operator.getPublicKey(), jwtFile: join('operator', 'operator.jwt'), seedFile: join('operator', 'operator.nk'),
      signingKey: operatorSigning.getPublicKey(), signingSeedFile: join('operator', 'signing.nk'),
    },
    systemAccount: { publicKey: sys.getPublicKey(), jwtFile: join('accounts', 'SYS.jwt'), seedFile: join('accounts', 'SYS.nk') },
    accounts: { production: accounts.production, staging: accounts.staging },
    sysCreds: { claims: join('creds', 'sys-claims.creds'), admin: join('creds', 'sys-admin.creds') },
    tls: { caFile: join('tls', 'ca.pem'), certFile: join('tls', 'hub-cert.pem'), keyFile: join('tls', 'hub-key.pem') },
  };
  writeFileSync(join(dir, MANIFEST), `${JSON.stringify(setup, null, 2)}\n`, { mode: 0o644 });
  return absolute(dir, setup);
}

export interface HubConfigOptions {
  serverName: string;
  clientPort: number;
  leafPort: number;
  storeDir: string;
  /** The full resolver's JWT folder. */
  resolverDir: string;
  /** Default 127.0.0.1 (the services' port); the leafnode listener faces the practices. */
  clientHost?: string;
  leafHost?: string;
}

/**
 * A hub config in operator mode: the full (nats-based) account resolver, preloaded with the SYS, PROD and
 * STAGING account JWTs, so later account updates (revocations) are pushed at runtime and no restart is needed;
 * TLS on the leafnode listener.
 */
export function renderSecureHubConfig(setup: SecureSetup, options: HubConfigOptions): string {
  const preload = preloadOf(setup);
  return renderNatsConfig('hub-secure.conf.tmpl', {
    serverName: options.serverName,
    clientHost: options.clientHost ?? '127.0.0.1',
    clientPort: options.clientPort,
    leafHost: options.leafHost ?? '127.0.0.1',
    leafPort: options.leafPort,
    storeDir: options.storeDir,
    operatorJwtFile: setup.operator.jwtFile,
    systemAccount: setup.systemAccount.publicKey,
    resolverDir: options.resolverDir,
    preload,
    certFile: setup.tls.certFile,
    keyFile: setup.tls.keyFile,
  });
}

/** The `resolver_preload` entries of a hub config: the SYS, PROD and STAGING account JWTs. */
export function preloadOf(setup: SecureSetup): string {
  const jwtOf = (file: string) => readFileSync(file, 'utf8').trim();
  return [
    [setup.systemAccount.publicKey, jwtOf(setup.systemAccount.jwtFile)],
    [setup.accounts.production.publicKey, jwtOf(setup.accounts.production.jwtFile)],
    [setup.accounts.staging.publicKey, jwtOf(setup.accounts.staging.jwtFile)],
  ].map(([key, jwt]) => `  ${key}: "${jwt}"`).join('\n');
}

/** The operator signing key (signs account JWT updates). Secret. */
export function operatorSigningKey(setup: SecureSetup): KeyPair {
  return keyFromSeed(readFileSync(setup.operator.signingSeedFile, 'utf8'));
}

/**
 * What `halo-admin init` does to a secrets folder: creates the setup (operator, accounts, service creds, CA and hub
 * certificate) in `dir`, or, with `ifMissing`, keeps one that is already there. `npm start` calls it too.
 */
export function initSecureSetup(dir: string, options: { ifMissing?: boolean; tlsHosts?: string[] } = {}): { created: boolean; setup: SecureSetup } {
  const exists = hasSecureSetup(dir);
  if (exists && !options.ifMissing) throw new Error(`${dir} already holds a setup; pass --if-missing to keep it`);
  if (exists) return { created: false, setup: loadSecureSetup(dir) };
  return { created: true, setup: createSecureSetup(dir, options.tlsHosts ? { tlsHosts: options.tlsHosts } : {}) };
}
