import { existsSync, readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { connect as netConnect, isIP } from 'node:net';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { isAppError } from '@halo/contracts';
import { decodeJwt, parseCreds } from '@halo/nats-auth';
import { getProfile, openConnector } from '@halo/pms';
import { connectorConfig, loadAgentConfig, type AgentConfig } from '../config.ts';
import { CREDS_FILE } from '../enrolment.ts';
import type { InstallLayout } from './layout.ts';

/** One check's outcome; `detail` says what was found, never data, queries or secrets. */
export interface DoctorCheck {
  check: string;
  ok: boolean;
  detail: string;
}

const MAX_DRIFT_MS = 60_000;
const TIMEOUT_MS = 10_000;
const reason = (err: unknown) => (isAppError(err) ? `${err.code}: ${err.message}` : err instanceof Error ? err.message : String(err));

/**
 * What a support call needs: the config parses; each database opens, is served read-only and has the integration
 * enabled; the hub's leafnode port answers with a certificate the CA verifies; the clock agrees with the facade's;
 * the link's credentials are present and unexpired.
 */
export async function runDoctor(layout: InstallLayout): Promise<DoctorCheck[]> {
  const checks: DoctorCheck[] = [];
  let config: AgentConfig;
  try {
    config = loadAgentConfig(layout.configFile);
    checks.push({ check: 'config', ok: true, detail: `${layout.configFile} (${config.env}, ${config.databases.length} database(s))` });
  } catch (err) {
    checks.push({ check: 'config', ok: false, detail: reason(err) });
    return checks;
  }
  for (const entry of config.databases) checks.push(...await databaseChecks(entry));
  checks.push(await hubCheck(config));
  if (config.enrolment) checks.push(await clockCheck(config.enrolment.url, config.enrolment.caFile));
  checks.push(credsCheck(config));
  return checks;
}

async function databaseChecks(entry: AgentConfig['databases'][number]): Promise<DoctorCheck[]> {
  const name = `database ${entry.name}`;
  let connector;
  try {
    connector = await openConnector(connectorConfig(entry));
  } catch (err) {
    return [{ check: name, ok: false, detail: `cannot open (${entry.engine}): ${reason(err)}` }];
  }
  try {
    const profile = getProfile(entry.profile, entry.engine === 'mssql' ? entry.profileOptions : undefined);
    const out: DoctorCheck[] = [];
    try {
      const identity = await profile.readIdentity(connector);
      out.push({ check: name, ok: true, detail: `${entry.engine}, profile ${entry.profile}, PMS ID ${identity.pmsId}` });
    } catch (err) {
      out.push({ check: name, ok: false, detail: `opens, but profile ${entry.profile} cannot read the practice: ${reason(err)}` });
    }
    if (entry.allowWrites) {
      out.push({ check: `${name} read-only`, ok: true, detail: 'writes allowed by the config (allowWrites)' });
    } else {
      // A write the guard must refuse: proves the site is served read-only without touching the database.
      const refused = await connector.query({ text: 'CREATE TABLE halo_doctor_probe (x INTEGER)', parameters: [], executionMode: 'nonQuery', deadline: Date.now() + TIMEOUT_MS })
        .then(() => false, () => true);
      out.push({ check: `${name} read-only`, ok: refused, detail: refused ? 'a write was refused' : 'a write was NOT refused' });
    }
    try {
      const enabled = await profile.integrationEnabled(connector);
      out.push({ check: `${name} integration`, ok: enabled, detail: enabled ? 'enabled in the PMS' : 'not enabled in the PMS: queries are refused until the practice enables it' });
    } catch (err) {
      out.push({ check: `${name} integration`, ok: false, detail: reason(err) });
    }
    return out;
  } finally {
    await connector.close().catch(() => undefined);
  }
}

/** The leaf URLs (config, else the enrolment answer's in the state) and the CA that verifies the hub. */
function hubOf(config: AgentConfig): { urls: string[]; caFile: string | undefined } {
  let urls = config.hubLeafUrls;
  if (!urls) {
    try {
      urls = (JSON.parse(readFileSync(join(config.stateDir, 'hub.json'), 'utf8')) as { leafUrls: string[] }).leafUrls;
    } catch {
      urls = [];
    }
  }
  const enrolledCa = join(config.stateDir, 'hub-ca.pem');
  return { urls, caFile: config.hubCaFile ?? (existsSync(enrolledCa) ? enrolledCa : config.enrolment?.caFile) };
}

/** Connects to the first leaf URL, reads the server's INFO and upgrades to TLS verified by the CA (as the leaf does). */
async function hubCheck(config: AgentConfig): Promise<DoctorCheck> {
  const { urls, caFile } = hubOf(config);
  const first = urls[0];
  if (!first) return { check: 'hub', ok: false, detail: 'no hub leaf URL yet (the link enrols on its first start)' };
  const url = new URL(first.replace(/^[a-z-]+:/, 'tls:'));
  const port = Number(url.port || 7422);
  return new Promise((resolve) => {
    const done = (ok: boolean, detail: string) => {
      socket.destroy();
      resolve({ check: 'hub', ok, detail: `${url.hostname}:${port}: ${detail}` });
    };
    const socket = netConnect({ host: url.hostname, port, timeout: TIMEOUT_MS });
    let head = '';
    socket.on('timeout', () => done(false, 'timed out'));
    socket.on('error', (err) => done(false, `cannot connect (${err.message})`));
    socket.on('data', function onData(chunk: Buffer) {
      head += chunk.toString('latin1');
      if (!head.includes('\r\n')) return;
      socket.off('data', onData);
      if (!head.startsWith('INFO ')) return done(false, 'not a NATS leafnode port');
      const secure = tlsConnect({ socket, ...(isIP(url.hostname) ? {} : { servername: url.hostname }), ...(caFile ? { ca: readFileSync(caFile) } : {}) });
      secure.on('secureConnect', () => done(secure.authorized, secure.authorized ? 'TLS verified' : `TLS not verified (${String(secure.authorizationError)})`));
      secure.on('error', (err) => done(false, `TLS failed (${err.message})`));
    });
  });
}

/** The facade's Date header against this clock (one second resolution). */
async function clockCheck(enrolUrl: string, caFile: string | undefined): Promise<DoctorCheck> {
  const request = enrolUrl.startsWith('https:') ? httpsRequest : httpRequest;
  return new Promise((resolve) => {
    const req = request(new URL('/health/live', enrolUrl), { method: 'GET', timeout: TIMEOUT_MS, ...(caFile ? { ca: readFileSync(caFile) } : {}) }, (res) => {
      res.resume();
      const date = res.headers.date ? Date.parse(res.headers.date) : Number.NaN;
      if (Number.isNaN(date)) return resolve({ check: 'clock', ok: false, detail: 'the facade sent no Date header' });
      const drift = Date.now() - date;
      resolve({ check: 'clock', ok: Math.abs(drift) <= MAX_DRIFT_MS, detail: `${Math.round(drift / 1000)} s from the facade's clock (at most ${MAX_DRIFT_MS / 1000} s)` });
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', (err: Error) => resolve({ check: 'clock', ok: false, detail: `cannot reach ${new URL(enrolUrl).origin} (${err.message})` }));
    req.end();
  });
}

function credsCheck(config: AgentConfig): DoctorCheck {
  if (!config.enrolment) return { check: 'credentials', ok: true, detail: 'not enrolled mode (no enrolment in the config)' };
  const file = join(config.stateDir, CREDS_FILE);
  if (!existsSync(file)) return { check: 'credentials', ok: false, detail: 'not enrolled yet: start the service once (it enrols with the token)' };
  try {
    const claims = decodeJwt(parseCreds(readFileSync(file, 'utf8')).jwt);
    const exp = (claims as { exp?: number }).exp;
    if (exp !== undefined && exp * 1000 < Date.now()) return { check: 'credentials', ok: false, detail: `expired at ${new Date(exp * 1000).toISOString()}` };
    return { check: 'credentials', ok: true, detail: `link ${claims.name ?? '?'}, ${exp === undefined ? 'no expiry' : `expires ${new Date(exp * 1000).toISOString()}`}` };
  } catch (err) {
    return { check: 'credentials', ok: false, detail: `unreadable creds file (${reason(err)})` };
  }
}
