// How a benchmark reaches a running demo the way its clients do: HTTPS trusting the demo's private CA, and NATS
// (hub and a leaf of its own, over leafnode TLS) as a user of the production account, minted here with the
// account's key from the demo's secrets folder.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Agent } from 'undici';
import { createUser, encodeJwt, formatCreds, keyFromSeed, loadSecureSetup, seedOf, userClaims } from '@halo/nats-auth';
import type { RunningDemo } from '@halo/demo';

export interface DemoAccess {
  /** fetch(url, { dispatcher }) or dispatcher.request(...) trusts the demo CA; keep-alive connections, pipelined as asked. */
  dispatcher: Agent;
  /** Creds of an unrestricted bench user in the production account (hub clients and leaf remotes). */
  credsFile: string;
  caFile: string;
}

/** How the bench's HTTP client uses its connections (undici Agent options of the same names). */
export interface ClientOptions {
  /** Keep-alive connections per origin; default undici's (no limit). */
  connections?: number;
  /** Requests in flight on one connection; undici sends a non-idempotent one only once the pipeline is empty. */
  pipelining?: number;
}

export function demoAccess(demo: RunningDemo, client: ClientOptions = {}): DemoAccess {
  const setup = loadSecureSetup(demo.secretsDir);
  const account = keyFromSeed(readFileSync(setup.accounts.production.seedFile, 'utf8'));
  const user = createUser();
  const all = { pub: { allow: ['>'] }, sub: { allow: ['>'] } };
  const jwt = encodeJwt(userClaims({ userKey: user.getPublicKey(), name: 'bench', permissions: all, allowedConnectionTypes: ['STANDARD', 'LEAFNODE'] }), account);
  const credsFile = join(demo.secretsDir, 'creds', 'bench.creds');
  writeFileSync(credsFile, formatCreds(jwt, seedOf(user)), { mode: 0o600 });
  const dispatcher = new Agent({ connect: { ca: readFileSync(demo.caFile) }, ...client });
  return { dispatcher, credsFile, caFile: demo.caFile };
}
