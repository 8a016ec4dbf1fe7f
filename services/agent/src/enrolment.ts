import { createHash } from 'node:crypto';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { z } from 'zod';
import { EnrolResult, type EnrolRequest, type Environment } from '@halo/contracts';
import { createUser, decodeJwt, formatCreds, seedOf } from '@halo/nats-auth';
import type { Logger } from '@halo/log';
import { writeFileAtomic } from './state.ts';

/** Where the link's credentials live in the state directory (mode 0600: the nkey seed is in it). */
export const CREDS_FILE = 'link.creds';
const META_FILE = 'link-creds.json';
/** What the enrolment answer said about the hub: its leafnode URLs, and its CA (hub-ca.pem) when it gave one. */
const HUB_FILE = 'hub.json';
const HUB_CA_FILE = 'hub-ca.pem';
const HubInfo = z.object({ leafUrls: z.array(z.string()).min(1) });

/** The link's credentials, and the hub the enrolment answer named (absent when the registry gave none). */
export interface LinkCredentials {
  credsFile: string;
  linkGuid: string;
  hub?: { leafUrls: string[]; caFile?: string };
}

const CredsMeta = z.object({ linkGuid: z.string(), publicKey: z.string(), env: z.string(), tokenHash: z.string(), enrolledAt: z.string() });

/** Thrown when enrolment fails; the message says what the practice's installer should do. */
export class EnrolmentError extends Error {
  readonly status: number | undefined;
  constructor(message: string, options?: { cause?: unknown; status?: number }) {
    super(message, options);
    this.name = 'EnrolmentError';
    this.status = options?.status;
  }
}

export interface EnrolmentOptions {
  stateDir: string;
  /** The Link GUID of the agent's state: stored creds are reused only if they were minted for it. */
  linkGuid: string;
  env: Environment;
  /** The facade's `POST /enrol` base URL, the one-time token support issued, and the CA of the facade's certificate. */
  enrolment: { url: string; token: string; caFile?: string | undefined };
  log: Logger;
  /** Milliseconds per attempt; default 15 000. */
  timeoutMs?: number;
}

const sha256 = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex');

/**
 * The link's creds file and Link GUID: the stored ones, if they were minted for the state's Link GUID from this
 * token; otherwise a new nkey is generated here (its seed never leaves this machine) and enrolled with the token,
 * and the registry answers with the Link GUID (a new one, or the one support bound a re-enrolment token to); the
 * caller adopts it. A new token in the config (after a revocation, or state moved to another machine) enrols
 * again with a new key.
 */
export async function ensureLinkCredentials(options: EnrolmentOptions): Promise<LinkCredentials> {
  const credsFile = join(options.stateDir, CREDS_FILE);
  const metaFile = join(options.stateDir, META_FILE);
  const tokenHash = sha256(options.enrolment.token);
  try {
    const meta = CredsMeta.parse(JSON.parse(readFileSync(metaFile, 'utf8')));
    readFileSync(credsFile);
    if (meta.linkGuid === options.linkGuid && meta.tokenHash === tokenHash) return { credsFile, linkGuid: meta.linkGuid, ...storedHub(options.stateDir) };
    options.log.warn({ linkGuid: options.linkGuid, previousLinkGuid: meta.linkGuid }, 'stored link credentials do not match this link or token; enrolling again');
  } catch {
    // No credentials yet: first start.
  }
  const user = createUser();
  const body: EnrolRequest = { token: options.enrolment.token, publicKey: user.getPublicKey() };
  const result = await postEnrol(options.enrolment.url, body, options.enrolment.caFile, options.timeoutMs ?? 15_000);
  const claims = decodeJwt(result.jwt);
  if (claims.sub !== user.getPublicKey() || claims.name !== result.linkGuid) throw new EnrolmentError('the enrolment answer is for another key or link');
  if (result.env !== options.env) throw new EnrolmentError(`the enrolment token is for ${result.env}, but this agent is configured for ${options.env}`);
  writeFileAtomic(credsFile, formatCreds(result.jwt, seedOf(user)), 0o600);
  writeHub(options.stateDir, result);
  writeFileAtomic(metaFile, `${JSON.stringify({ linkGuid: result.linkGuid, publicKey: user.getPublicKey(), env: result.env, tokenHash, enrolledAt: new Date().toISOString() })}\n`, 0o600);
  options.log.info({ linkGuid: result.linkGuid, env: result.env }, 'link enrolled');
  return { credsFile, linkGuid: result.linkGuid, ...storedHub(options.stateDir) };
}

function writeHub(stateDir: string, result: EnrolResult): void {
  rmSync(join(stateDir, HUB_FILE), { force: true });
  rmSync(join(stateDir, HUB_CA_FILE), { force: true });
  if (!result.hubLeafUrls) return;
  if (result.hubCaPem) writeFileAtomic(join(stateDir, HUB_CA_FILE), result.hubCaPem, 0o644);
  writeFileAtomic(join(stateDir, HUB_FILE), `${JSON.stringify({ leafUrls: result.hubLeafUrls })}\n`, 0o644);
}

function storedHub(stateDir: string): Pick<LinkCredentials, 'hub'> {
  try {
    const { leafUrls } = HubInfo.parse(JSON.parse(readFileSync(join(stateDir, HUB_FILE), 'utf8')));
    const caFile = join(stateDir, HUB_CA_FILE);
    return { hub: { leafUrls, ...(existsSync(caFile) ? { caFile } : {}) } };
  } catch {
    return {};
  }
}

/** POSTs the enrolment over HTTP(S), trusting `caFile` for the facade's certificate when given. */
function postEnrol(baseUrl: string, body: EnrolRequest, caFile: string | undefined, timeoutMs: number): Promise<EnrolResult> {
  const url = new URL('enrol', baseUrl.endsWith('/') ? baseUrl : `${baseUrl}/`);
  const payload = Buffer.from(JSON.stringify(body), 'utf8');
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = send(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'content-length': payload.length },
      timeout: timeoutMs,
      ...(url.protocol === 'https:' && caFile ? { ca: readFileSync(caFile) } : {}),
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        if (res.statusCode !== 200) {
          const hint = res.statusCode === 401 ? 'the enrolment token is invalid, expired or already used; ask support for a new one' : `the facade answered ${res.statusCode}`;
          reject(new EnrolmentError(`enrolment refused: ${hint}`, { status: res.statusCode }));
          return;
        }
        try {
          resolve(EnrolResult.parse(JSON.parse(text)));
        } catch (cause) {
          reject(new EnrolmentError('the enrolment answer does not parse', { cause }));
        }
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new EnrolmentError('enrolment timed out')));
    req.on('error', (cause) => reject(cause instanceof EnrolmentError ? cause : new EnrolmentError(`cannot reach the enrolment URL ${url.origin}`, { cause })));
    req.end(payload);
  });
}
