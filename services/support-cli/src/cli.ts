import { parseArgs } from 'node:util';
import {
  Guid, HttpError, SupportAuditResult, SupportEnrolmentTokenResult, SupportListResult, SupportMoveResult, SupportRevokeResult, SupportSitesResponse,
  SupportWebhookSet, SupportWebhookView,
  type AuditEntry, type SiteView, type SupportLink,
} from '@halo/contracts';
import type { z } from 'zod';

/** What one run of the CLI needs from outside; main.ts passes the real ones, tests their own. */
export interface CliIo {
  /** `HALO_SUPPORT_URL` (the facade's base URL) and `HALO_SUPPORT_KEY`. */
  env: Readonly<Record<string, string | undefined>>;
  out: (text: string) => void;
  err: (text: string) => void;
  fetch?: typeof fetch;
}

export const USAGE = `usage: halo-support <command> [options]

  list [--pms-id ID] [--pms-type TYPE]        practices with their sites, and the links serving them
  sites <pmsId> [--pms-type TYPE]             every site of a PMS ID: authority, availability, status, version, last seen
  move --pms-type TYPE --pms-id ID --to HALO_GUID --reason "..." [--expect-epoch N]
                                              make another site authoritative (reason required; audited)
  audit [--pms-id ID] [--pms-type TYPE] [--limit N]
                                              the audit trail, oldest first
  enrolment-token [--link LINK_GUID] [--ttl SECONDS] [--note "..."]
                                              a one-time token for a new Halo Link installation; with --link, a
                                              re-enrolment token for that existing link only (its earlier
                                              credentials are revoked when the token is used)
  revoke LINK_GUID --reason "..."             revoke a link's credentials: its leaf is closed at once and stays
                                              out until it re-enrols (enrolment-token --link)
  webhook set INTEGRATOR_ID URL               set the integrator's webhook URL (HTTPS; {siteId}, {queryId}, {source}
                                              are filled in); prints the signing secret, shown only this once
  webhook show INTEGRATOR_ID                  the integrator's webhook URL (never the secret)
  webhook delete INTEGRATOR_ID                remove it; events not yet delivered are dropped

  --json prints the API's answer as JSON.
environment: HALO_SUPPORT_URL (facade base URL), HALO_SUPPORT_KEY (support key; not an integrator key)`;

/** A failed run: message for stderr and the exit code (2 usage, 1 API error). */
class CliError extends Error {
  readonly exitCode: number;
  constructor(message: string, exitCode: number) {
    super(message);
    this.name = 'CliError';
    this.exitCode = exitCode;
  }
}

/** Runs `halo-support` with `argv` (without node and the script); resolves to the exit code. */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  try {
    await run(argv, io);
    return 0;
  } catch (err) {
    if (err instanceof CliError) {
      io.err(`halo-support: ${err.message}`);
      return err.exitCode;
    }
    io.err(`halo-support: ${err instanceof Error ? err.message : String(err)}`);
    return 1;
  }
}

async function run(argv: readonly string[], io: CliIo): Promise<void> {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      options: {
        'pms-id': { type: 'string' },
        'pms-type': { type: 'string' },
        to: { type: 'string' },
        reason: { type: 'string' },
        'expect-epoch': { type: 'string' },
        limit: { type: 'string' },
        link: { type: 'string' },
        ttl: { type: 'string' },
        note: { type: 'string' },
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (err) {
    throw new CliError(`${err instanceof Error ? err.message : String(err)}\n${USAGE}`, 2);
  }
  const { values, positionals } = parsed;
  const [command, ...rest] = positionals;
  if (values.help || command === undefined || command === 'help') {
    io.out(USAGE);
    if (command === undefined && !values.help) throw new CliError('a command is required', 2);
    return;
  }
  const api = client(io);
  const query = (entries: Record<string, string | undefined>) => {
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(entries)) if (v !== undefined) params.set(k, v);
    const s = params.toString();
    return s ? `?${s}` : '';
  };
  const print = (value: unknown, human: () => string) => io.out(values.json ? JSON.stringify(value, null, 2) : human());

  switch (command) {
    case 'list': {
      const result = await api('GET', `/support/practices${query({ pmsId: values['pms-id'], pmsType: values['pms-type'] })}`, SupportListResult);
      print(result, () => [
        ...result.practices.flatMap((p) => [
          `${p.pmsType} ${p.pmsId}  epoch ${p.epoch} since ${p.since}${p.by ? ` by ${p.by}` : ''}${p.reason ? ` (${p.reason})` : ''}`,
          ...p.sites.map((s) => `  ${siteLine(s)}`),
        ]),
        '',
        'links:',
        ...result.links.map(linkLine),
      ].join('\n'));
      return;
    }
    case 'sites': {
      const pmsId = rest[0] ?? values['pms-id'];
      if (pmsId === undefined) throw new CliError(`sites needs a PMS ID\n${USAGE}`, 2);
      const result = await api('GET', `/support/sites${query({ pmsId, pmsType: values['pms-type'] })}`, SupportSitesResponse);
      print(result, () => (result.sites.length === 0 ? `no sites for PMS ID ${pmsId}` : result.sites.map(siteLine).join('\n')));
      return;
    }
    case 'move': {
      const pmsType = values['pms-type'];
      const pmsId = values['pms-id'];
      const to = values.to;
      const reason = values.reason;
      if (!pmsType || !pmsId || !to) throw new CliError(`move needs --pms-type, --pms-id and --to\n${USAGE}`, 2);
      if (!reason || reason.trim() === '') throw new CliError('move needs --reason "why authority moves" (kept in the audit trail)', 2);
      const epoch = values['expect-epoch'];
      if (epoch !== undefined && !/^\d+$/.test(epoch)) throw new CliError('--expect-epoch must be a whole number', 2);
      const body = { pmsType, pmsId, to, reason, ...(epoch !== undefined ? { expectedEpoch: Number(epoch) } : {}) };
      const result = await api('POST', '/support/authority', SupportMoveResult, body);
      print(result, () => `authority for ${pmsType} ${pmsId} moved ${result.audit.from ?? '?'} -> ${result.audit.to ?? '?'} (epoch ${result.audit.epoch ?? '?'}, by ${result.audit.who})`);
      return;
    }
    case 'audit': {
      const limit = values.limit;
      if (limit !== undefined && !/^\d+$/.test(limit)) throw new CliError('--limit must be a whole number', 2);
      const result = await api('GET', `/support/audit${query({ pmsId: values['pms-id'], pmsType: values['pms-type'], limit })}`, SupportAuditResult);
      print(result, () => (result.entries.length === 0 ? 'no audit entries' : result.entries.map(auditLine).join('\n')));
      return;
    }
    case 'enrolment-token': {
      const link = values.link;
      if (link !== undefined && !Guid.safeParse(link).success) throw new CliError('--link must be a Link GUID (a lowercase UUID)', 2);
      const ttl = values.ttl;
      if (ttl !== undefined && !/^\d+$/.test(ttl)) throw new CliError('--ttl must be a whole number of seconds', 2);
      const body = { ...(link !== undefined ? { linkGuid: link } : {}), ...(ttl !== undefined ? { ttlSeconds: Number(ttl) } : {}), ...(values.note ? { note: values.note } : {}) };
      const result = await api('POST', '/support/enrolment-tokens', SupportEnrolmentTokenResult, body);
      print(result, () => [
        result.token,
        `${result.linkGuid ? `re-enrols link ${result.linkGuid} only` : 'enrols a new link'}; ${result.env}; one use; expires ${result.expiresAt}`,
      ].join('\n'));
      return;
    }
    case 'revoke': {
      const link = rest[0];
      if (link === undefined || !Guid.safeParse(link).success) throw new CliError(`revoke needs a Link GUID\n${USAGE}`, 2);
      const reason = values.reason;
      if (!reason || reason.trim() === '') throw new CliError('revoke needs --reason "why" (kept in the audit trail)', 2);
      const result = await api('POST', `/support/links/${link}/revoke`, SupportRevokeResult, { reason });
      print(result, () => `link ${result.linkGuid} revoked (${result.revokedKeys.length} key(s), JWTs issued up to ${result.revokedUntil} refused)`);
      return;
    }
    case 'webhook': {
      const [verb, integratorId, url] = rest;
      if (!integratorId || !['set', 'show', 'delete'].includes(verb ?? '') || (verb === 'set') !== (url !== undefined)) {
        throw new CliError(`webhook needs set INTEGRATOR_ID URL, show INTEGRATOR_ID or delete INTEGRATOR_ID\n${USAGE}`, 2);
      }
      const path = `/support/integrators/${encodeURIComponent(integratorId)}/webhook`;
      if (verb === 'set') {
        const result = await api('PUT', path, SupportWebhookSet, { url });
        print(result, () => [result.secret, `webhook of ${result.integratorId} set to ${result.url}; the secret above signs every delivery and is not shown again`].join('\n'));
      } else if (verb === 'show') {
        const result = await api('GET', path, SupportWebhookView);
        print(result, () => `${result.integratorId}  ${result.url}  set ${result.updatedAt} by ${result.updatedBy}`);
      } else {
        await api('DELETE', path, SupportWebhookView.nullable());
        print({ integratorId, deleted: true }, () => `webhook of ${integratorId} removed`);
      }
      return;
    }
    default:
      throw new CliError(`unknown command ${JSON.stringify(command)}\n${USAGE}`, 2);
  }
}

type Api = <S extends z.ZodType>(method: string, path: string, schema: S, body?: unknown) => Promise<z.infer<S>>;

function client(io: CliIo): Api {
  const base = io.env.HALO_SUPPORT_URL;
  const key = io.env.HALO_SUPPORT_KEY;
  if (!base) throw new CliError('HALO_SUPPORT_URL is not set (the facade base URL, e.g. http://127.0.0.1:8080)', 2);
  if (!key) throw new CliError('HALO_SUPPORT_KEY is not set', 2);
  const doFetch = io.fetch ?? fetch;
  return async (method, path, schema, body) => {
    let res: Response;
    try {
      res = await doFetch(`${base.replace(/\/+$/, '')}${path}`, {
        method,
        headers: { authorization: `Bearer ${key}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        signal: AbortSignal.timeout(30_000),
      });
    } catch (err) {
      throw new CliError(`cannot reach ${base}: ${err instanceof Error ? err.message : String(err)}`, 1);
    }
    const payload: unknown = res.status === 204 ? null : await res.json().catch(() => null);
    if (!res.ok) {
      const error = HttpError.safeParse(payload);
      throw new CliError(error.success ? `${error.data.error.status} ${error.data.error.code}: ${error.data.error.message}` : `HTTP ${res.status}`, 1);
    }
    const parsed = schema.safeParse(payload);
    if (!parsed.success) throw new CliError('the server answered in an unexpected shape', 1);
    return parsed.data;
  };
}

function siteLine(s: SiteView): string {
  return [
    s.haloGuid, s.authoritative ? 'AUTHORITATIVE' : 'not-authoritative', s.status, s.availability,
    `v${s.haloLinkVersion}`, `last seen ${s.lastSeen ?? 'never'}`, s.clockDrift ? 'CLOCK-DRIFT' : '', `link ${s.linkGuid}`, s.practiceName,
  ].filter((x) => x !== '').join('  ');
}

function linkLine(l: SupportLink): string {
  return [
    `  ${l.linkGuid}`, l.availability, `v${l.version}`, `last seen ${l.lastSeen}`, `${l.sites.length} sites`,
    l.clockDrift ? `CLOCK-DRIFT ${Math.round((l.clockSkewMs ?? 0) / 1000)} s` : '', l.uninstalledAt ? `uninstalled ${l.uninstalledAt}` : '',
    l.updateStatus ? updateLine(l.updateStatus) : '',
  ].filter((x) => x !== '').join('  ');
}

/** The link's last auto-update outcome, e.g. `update rolled-back 0.2.0 (unhealthy)`. */
function updateLine(u: NonNullable<SupportLink['updateStatus']>): string {
  const subject = u.state === 'rolled-back' ? u.failedVersion : u.state === 'updated' ? `${u.previous ?? '?'} -> ${u.version}` : u.version;
  return `update ${u.state.toUpperCase()} ${subject ?? ''}${u.code ? ` (${u.code})` : ''} at ${u.at}`;
}

function auditLine(e: AuditEntry): string {
  const what = e.action === 'authority.moved' ? `${e.from ?? '?'} -> ${e.to ?? '?'} (epoch ${e.epoch ?? '?'})` : (e.haloGuid ?? (e.linkGuid ? `link ${e.linkGuid}` : ''));
  return `${e.at}  ${e.action}  ${e.pmsType ?? ''} ${e.pmsId ?? ''}  ${what}  by ${e.who}${e.reason ? `  "${e.reason}"` : ''}`;
}
