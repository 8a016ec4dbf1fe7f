import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  AppError, ChunkHeaders, QueryRequest, RegisterResult, UnregisterResult, isAppError, mapBounded, parseReplySubject, subjects,
  type Heartbeat, type RegisterRequest, type UnregisterRequest,
} from '@halo/contracts';
import { AckRouter, ChunkSender, connectNats, decodeJson, encodeJson, headers, readRequestOptions, requestJson, type Msg, type NatsConnection, type Subscription } from '@halo/messaging';
import { NatsServerProcess, renderNatsConfig } from '@halo/nats-server';
import { traceStage, type Logger } from '@halo/log';
import type { AgentConfig } from './config.ts';
import { Site } from './site.ts';
import type { FingerprintSource } from './fingerprint.ts';
import { StateDirectory } from './state.ts';
import { EnrolmentError, ensureLinkCredentials, type LinkCredentials } from './enrolment.ts';
import { agentVersion } from './version.ts';
import { readUpdateStatus, writeHealth } from './update/health.ts';

/** Databases opened at once while an agent starts. */
const SITE_OPEN_CONCURRENCY = 8;

/**
 * How long a registration may take: the registry writes each site (several replicated KV writes), so 10 s for a
 * small link and 100 ms more per site for a large one. A fixed 10 s failed every 500-site link while twenty
 * registered at once, and each retry added its work to the registry's queue again.
 */
export function registrationTimeoutMs(sites: number): number {
  return Math.max(10_000, 100 * sites);
}

export interface AgentDeps {
  config: AgentConfig;
  log: Logger;
  /** Where the machine fingerprint comes from; the OS by default (tests simulate a move to another machine). */
  fingerprintSource?: FingerprintSource;
}

/** What a started agent exposes to its host process and to tests. */
export interface Agent {
  readonly linkGuid: string;
  readonly sites: ReadonlyArray<{ name: string; haloGuid: string; pmsId: string; authoritative: boolean }>;
  /** The supervised leaf nats-server. */
  readonly leaf: NatsServerProcess;
  readonly nc: NatsConnection;
  /** Statements running and waiting across all sites. */
  load(): { inFlight: number; queued: number };
  /**
   * The agent is being uninstalled: tells the registry (its sites become `uninstalled`; authority stays where it
   * is), then stops. Run by the uninstaller before it removes the service.
   */
  uninstall(): Promise<void>;
  close(): Promise<void>;
}

/**
 * Starts Halo Link: its leaf nats-server, its sites, registration, query subscriptions and heartbeats.
 * Resolves once every site that could be opened is registered; keeps retrying the registry until then.
 */
export async function startAgent(deps: AgentDeps): Promise<Agent> {
  const { config } = deps;
  const state = await StateDirectory.open(config.stateDir, { fingerprintSource: deps.fingerprintSource, log: deps.log });
  // Enrolled: the registry says which link this is (it mints the Link GUID); the leaf's remote carries the link's
  // credentials and verifies the hub's certificate.
  const enrolled = config.enrolment ? await enrolWithRetry(config, state, deps.log) : undefined;
  const linkGuid = state.linkGuid;
  const version = config.version ?? agentVersion();
  const log = deps.log.child({ linkGuid });
  const closers: Array<() => Promise<unknown>> = [];
  const close = async () => {
    for (const fn of closers.splice(0).reverse()) await fn().catch((err: unknown) => log.warn({ err: errName(err) }, 'close step failed'));
  };

  try {
    // The config's hub, if it names one, else the one the enrolment answer gave.
    const leafUrls = config.hubLeafUrls ?? enrolled?.hub?.leafUrls;
    if (!leafUrls) throw new EnrolmentError('the enrolment answer named no hub and the config gives no hubLeafUrls');
    const hubLeafUrls = leafUrls.map((u) => JSON.stringify(u)).join(', ');
    const credsFile = enrolled?.credsFile;
    const caFile = config.hubCaFile ?? enrolled?.hub?.caFile ?? config.enrolment?.caFile;
    if (credsFile && !caFile) throw new EnrolmentError('no CA to verify the hub with: give hubCaFile or enrolment.caFile');
    const proxy = config.hubProxy ? `proxy ${JSON.stringify({ url: config.hubProxy.url, ...(config.hubProxy.username ? { username: config.hubProxy.username, password: config.hubProxy.password ?? '' } : {}) })}` : '';
    const leaf = new NatsServerProcess({
      name: 'leaf',
      dir: join(config.stateDir, 'leaf'),
      supervise: true,
      log,
      config: credsFile && caFile
        ? renderNatsConfig('leaf-secure.conf.tmpl', { serverName: `link-${linkGuid}`, clientPort: -1, hubLeafUrls, credsFile, caFile, proxy })
        : renderNatsConfig('leaf.conf.tmpl', { serverName: `link-${linkGuid}`, clientPort: -1, hubLeafUrls, proxy }),
    });
    await leaf.start();
    closers.push(() => leaf.close());

    const nc = await connectNats({ servers: leaf.clientUrl, name: `halo-link-${linkGuid}`, inboxPrefix: subjects.agentInbox(linkGuid), log });
    closers.push(() => nc.close());

    // A few at a time: an agent with hundreds of databases opens them in seconds without opening them all at once.
    const opened = await mapBounded(config.databases, SITE_OPEN_CONCURRENCY, async (entry): Promise<Site | undefined> => {
      const haloGuid = state.haloGuid(entry.name);
      try {
        let site = await Site.open(haloGuid, entry);
        // Another database under the same name is another site: reopened under the Halo GUID the state mints for it.
        const bound = state.bindDatabase(entry.name, site.registration.databaseIdentity);
        if (bound !== haloGuid) {
          await site.close();
          site = await Site.open(bound, entry);
        }
        return site;
      } catch (err) {
        // One unreadable database must not take the practice's other sites offline.
        log.error({ database: entry.name, haloGuid, code: isAppError(err) ? err.code : 'internal', err: errName(err) }, 'site not served');
        return undefined;
      }
    });
    const sites = opened.filter((site) => site !== undefined);
    closers.push(() => Promise.all(sites.map((s) => s.close())));

    // Acks arrive on one wildcard subscription, made before any query subject so no credit can precede it.
    const acks = new AckRouter({ nc, linkGuid, log });
    closers.push(() => acks.close());
    // At shutdown, once no new query can arrive (the subscriptions below are drained first), the queries in
    // flight finish (for up to shutdownGraceSeconds) before their acks, sites and connection close under them.
    const answering = new Set<Promise<void>>();
    closers.push(async () => {
      if (answering.size === 0) return;
      log.info({ inFlight: answering.size }, 'waiting for queries in flight');
      const grace = new Promise<void>((resolve) => setTimeout(resolve, config.shutdownGraceSeconds * 1000).unref());
      await Promise.race([Promise.allSettled([...answering]), grace]);
    });
    const subs: Subscription[] = sites.map((site) =>
      nc.subscribe(subjects.query(linkGuid, site.haloGuid), {
        callback: (err, msg) => {
          if (err) return;
          const answered = answer(site, msg).finally(() => answering.delete(answered));
          answering.add(answered);
        },
      }),
    );
    closers.push(async () => {
      if (!nc.isClosed()) await Promise.all(subs.map((s) => s.drain()));
    });
    /** Totals since start, reported in heartbeats (LinkMetrics): counts only. */
    const counts = { queriesServed: 0, queriesFailed: 0, bytesSent: 0 };
    const queue = { immediateMs: config.maxImmediateTimeInQueueSeconds * 1000, asyncMs: config.maxAsyncTimeInQueueSeconds * 1000 };

    async function answer(site: Site, msg: Msg): Promise<void> {
      const receivedAt = Date.now();
      // Replies go only to this link's reply subjects: anything else would be relaying for someone.
      const reply = msg.reply ? parseReplySubject(msg.reply) : null;
      if (!msg.reply || !reply || reply.linkGuid !== linkGuid) {
        log.warn({ haloGuid: site.haloGuid }, 'query without a valid reply subject dropped');
        return;
      }
      const queryId = reply.queryId;
      traceStage('agent.received', queryId);
      if (acks.isOpen(queryId)) {
        // The requester sent it again (nothing reached it yet, e.g. while its hub node changed): this run answers.
        log.debug({ haloGuid: site.haloGuid, queryId }, 'query sent again while it runs: dropped');
        return;
      }
      let request: QueryRequest;
      let sender: ChunkSender;
      try {
        request = decodeJson(QueryRequest, msg.data);
        if (request.haloGuid !== site.haloGuid) throw new AppError('bad_request', 'the query names another site');
        if (request.queryId !== queryId) throw new AppError('bad_request', 'the query id does not match its reply subject');
        if (request.deadline <= receivedAt) throw new AppError('deadline_exceeded', 'the deadline passed before the query arrived');
        const { chunkBytes, window, keepAliveMs, rowFormat } = readRequestOptions(msg);
        sender = new ChunkSender({
          nc, replySubject: msg.reply, acks: acks.open(queryId), window, chunkBytes, keepAliveMs, rowFormat, deadline: request.deadline,
          stallMs: config.stallSeconds * 1000, maxRows: site.entry.maxRows, maxBytes: site.entry.maxBytes, log,
        });
      } catch (err) {
        refuse(msg.reply, err);
        counts.queriesFailed++;
        log.info({ haloGuid: site.haloGuid, queryId, code: codeOf(err) }, 'query refused');
        return;
      }
      try {
        const summary = await site.execute(request, receivedAt, sender, queue);
        counts.queriesServed++;
        counts.bytesSent += summary.bytes;
        log.info({ haloGuid: site.haloGuid, queryId, mode: request.mode, rowCount: summary.rowCount, bytes: summary.bytes, ms: Date.now() - receivedAt }, 'query finished');
      } catch (err) {
        sender.fail(err);
        counts.queriesFailed++;
        log.info({ haloGuid: site.haloGuid, queryId, mode: request.mode, code: codeOf(err), ms: Date.now() - receivedAt }, 'query failed');
        if (!isAppError(err)) log.error({ haloGuid: site.haloGuid, queryId, err: errName(err) }, 'unexpected query error');
      }
    }

    /** An error chunk for a request that never got a sender (seq 0: nothing came before it). */
    function refuse(replySubject: string, err: unknown): void {
      const h = headers();
      h.set(ChunkHeaders.kind, 'error');
      h.set(ChunkHeaders.seq, '0');
      const body = isAppError(err) ? { code: err.code, message: err.message } : { code: 'internal', message: 'internal error' };
      try {
        nc.publish(replySubject, encodeJson(body), { headers: h });
      } catch {
        // The connection is gone; the requester's deadline covers it.
      }
    }

    // Every configured database, opened or not: a site registered before and missing here has left the config (removed).
    const configuredSites = config.databases.map((entry) => state.haloGuid(entry.name));
    const pairing = sites.filter((s) => s.pairingCodeHashes.length > 0).map((s) => ({ haloGuid: s.haloGuid, codeHashes: s.pairingCodeHashes }));
    const registration: RegisterRequest = {
      linkGuid, env: config.env, version, sites: sites.map((s) => s.registration), configuredSites,
      ...(pairing.length > 0 ? { pairing } : {}),
    };
    const abort = new AbortController();
    closers.push(async () => abort.abort());
    const registered = await register(nc, registration, log, abort.signal);

    // Registering again after the leaf or the hub comes back refreshes what the registry knows.
    void (async () => {
      for await (const s of nc.status()) {
        if (s.type === 'reconnect') await register(nc, registration, log, abort.signal).catch(() => undefined);
      }
    })().catch(() => undefined);

    const load = () => sites.reduce((acc, s) => ({ inFlight: acc.inFlight + s.load.inFlight, queued: acc.queued + s.load.queued }), { inFlight: 0, queued: 0 });
    const beat = (stopping = false) => {
      if (nc.isClosed()) return;
      const now = load();
      const metrics = { ...counts, inFlight: now.inFlight + now.queued };
      const updateStatus = readUpdateStatus(config.stateDir);
      const hb: Heartbeat = {
        linkGuid, version, sites: sites.map((s) => s.haloGuid), load: now, clock: Date.now(), metrics,
        ...(stopping ? { stopping } : {}), ...(updateStatus ? { updateStatus } : {}),
      };
      nc.publish(subjects.heartbeat(linkGuid), encodeJson(hb));
    };
    const timer = setInterval(beat, config.heartbeatSeconds * 1000);
    closers.push(async () => clearInterval(timer));
    // Registered through leaf and hub, first heartbeat out: the proof of health an updater commits a version on.
    beat();
    await nc.flush();
    writeHealth(config.stateDir, version);
    // The last heartbeat says so: the registry shows the link offline at once instead of after the online window.
    closers.push(async () => {
      beat(true);
      if (!nc.isClosed()) await nc.flush().catch(() => undefined);
    });

    const view = sites.map((s) => ({
      name: s.entry.name,
      haloGuid: s.haloGuid,
      pmsId: s.registration.pmsId,
      authoritative: registered.sites.find((r) => r.haloGuid === s.haloGuid)?.authoritative ?? false,
    }));
    log.info({ sites: view }, 'agent ready');
    const uninstall = async () => {
      const request: UnregisterRequest = { linkGuid };
      await requestJson(nc, subjects.linkRegistry('unregister', linkGuid), request, UnregisterResult, { timeoutMs: 10_000, noResponders: 'registry_unavailable' });
      log.info({ sites: sites.length }, 'uninstalled');
      await close();
    };
    return { linkGuid, sites: view, leaf, nc, load, uninstall, close };
  } catch (err) {
    await close();
    throw err;
  }
}

/**
 * Enrols (once per link and token) and adopts the Link GUID the registry gave; a refused token is final, an
 * unreachable facade is retried with backoff.
 */
async function enrolWithRetry(config: AgentConfig, state: StateDirectory, log: Logger): Promise<LinkCredentials> {
  const enrolment = config.enrolment!;
  for (let attempt = 0; ; attempt++) {
    try {
      const enrolled = await ensureLinkCredentials({ stateDir: config.stateDir, linkGuid: state.linkGuid, env: config.env, enrolment, log });
      state.enrolledAs(enrolled.linkGuid);
      return enrolled;
    } catch (err) {
      const status = err instanceof EnrolmentError ? err.status : undefined;
      if (status !== undefined && status >= 400 && status < 500) throw err;
      if (attempt >= 8) throw err;
      log.warn({ attempt, err: err instanceof Error ? err.message : 'unknown' }, 'enrolment failed; retrying');
      await sleep(Math.min(5_000, 250 * 2 ** attempt));
    }
  }
}

/** Registers with the registry, retrying with backoff while it (or the hub link) is unavailable. */
async function register(nc: NatsConnection, request: RegisterRequest, log: Logger, signal: AbortSignal): Promise<RegisterResult> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await requestJson(nc, subjects.linkRegistry('register', request.linkGuid), request, RegisterResult, { timeoutMs: registrationTimeoutMs(request.sites.length), noResponders: 'registry_unavailable' });
    } catch (err) {
      if (signal.aborted) throw err;
      // A refused registration (bad_request) will not change by retrying, but the operator may fix the hub side.
      if (attempt % 20 === 0) log.warn({ code: isAppError(err) ? err.code : 'internal', attempt }, 'registration failed; retrying');
      await sleep(Math.min(5_000, 100 * 2 ** Math.min(attempt, 6)), undefined, { signal }).catch(() => undefined);
      if (signal.aborted) throw new AppError('site_offline', 'the agent stopped before it registered');
    }
  }
}

function codeOf(err: unknown): string {
  return isAppError(err) ? err.code : 'internal';
}

/** Error names only: messages of foreign errors may carry data. */
function errName(err: unknown): string {
  return isAppError(err) ? `AppError:${err.code}` : err instanceof Error ? err.name : typeof err;
}
