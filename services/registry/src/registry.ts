import type { Msg, NatsConnection, Subscription } from '@nats-io/transport-node';
import {
  AppError, EnrolRequest, Heartbeat, LookupRequest, SupportEnrolmentTokenRequest, SupportRevokeRequest, REGISTRY_QUEUE, RegisterRequest, SiteRequest, SupportAuditRequest, SupportListRequest,
  SupportMoveRequest, UnregisterRequest, PAIRING_CODE_PMS_TYPES, PairRequest, mapBounded, subjects, type LinkRegistryVerb, type PairResult,
  type AuditEntry, type Environment, type LinkRecord, type LookupResult, type RegisterResult, type SiteRecord, type SiteResult, type SiteView,
  type SupportAuditResult, type SupportListResult, type SupportMoveResult, type UnregisterResult,
} from '@halo/contracts';
import { decodeJson, serveJson } from '@halo/messaging';
import type { Logger } from '@halo/log';
import { AuditLog } from './audit.ts';
import { DEFAULT_THRESHOLDS, practiceKey, RegistryStore, RegistryViews, type Thresholds } from '@halo/registry-data';
import { Enrolment, type EnrolmentConfig } from './enrolment.ts';
import { RegistryCounts, recordRegistryMetrics } from './registry-metrics.ts';
import type { Registry as MetricsRegistry } from '@halo/metrics';
import { serveKeyRotationAudit, serveWebhookAudit } from './key-rotation-audit.ts';

export interface RegistryDeps {
  nc: NatsConnection;
  log: Logger;
  /** The environment this registry serves; registrations for another are refused. */
  env: Environment;
  /** KV and audit stream replicas: 1 on a single dev server, 3 in a cluster. */
  replicas?: number;
  /** Availability and clock drift thresholds; defaults 30 s online, 2 min unreachable, 60 s drift. */
  thresholds?: Partial<Thresholds>;
  /** Clock in epoch ms (tests). */
  now?: () => number;
  /** Operator/JWT mode: enrolment (minting link credentials) and revocation; without it those verbs are not served. */
  enrolment?: EnrolmentConfig;
  /** Where the registry's series go (served on HALO_METRICS_PORT by main.ts); without it none are recorded. */
  metrics?: MetricsRegistry;
}

export interface Registry {
  close(): Promise<void>;
}

/** Starts one registry replica: it joins the queue group, so any number run side by side. */
export async function startRegistry(deps: RegistryDeps): Promise<Registry> {
  const { nc, log, env } = deps;
  const replicas = deps.replicas ?? 1;
  const store = await RegistryStore.open(nc, replicas);
  const audit = await AuditLog.open(nc, replicas);
  const thresholds: Thresholds = { ...DEFAULT_THRESHOLDS, ...deps.thresholds };
  const now = deps.now ?? Date.now;
  const iso = () => new Date(now()).toISOString();
  const views = new RegistryViews(store, thresholds, now);
  const counts = new RegistryCounts();
  if (deps.metrics) recordRegistryMetrics(deps.metrics, { nc, counts, store, views });

  /** Sets a site's status (removed, uninstalled) and audits it; authority stays where it is. */
  async function retire(haloGuid: string, status: 'removed' | 'uninstalled', linkGuid: string): Promise<boolean> {
    const site = await store.getSite(haloGuid);
    if (!site || site.value.linkGuid !== linkGuid || site.value.status === status) return false;
    const at = iso();
    await store.updateSite(haloGuid, { ...site.value, status, updatedAt: at });
    const entry: AuditEntry = {
      action: status === 'removed' ? 'site.removed' : 'site.uninstalled',
      at, who: `link:${linkGuid}`, pmsType: site.value.pmsType, pmsId: site.value.pmsId, haloGuid, linkGuid,
    };
    await audit.append(entry, `${haloGuid}:${status}:${site.revision}`);
    log.info({ linkGuid, haloGuid, status }, 'site retired');
    return true;
  }

  /**
   * A link's own request arrives on a subject naming it, which is all the hub pins to the link's user; a payload
   * naming another link is a forgery (or a bug) and changes nothing.
   */
  function assertSentAs(verb: LinkRegistryVerb, linkGuid: string, msg: Msg): void {
    if (msg.subject !== subjects.linkRegistry(verb, linkGuid)) {
      log.warn({ linkGuid, verb }, 'request naming another link refused');
      throw new AppError('link_mismatch', 'the request names another link than the one it was sent as');
    }
  }

  async function register(request: RegisterRequest, msg: Msg): Promise<RegisterResult> {
    assertSentAs('register', request.linkGuid, msg);
    if (request.env !== env) throw new AppError('bad_request', `this registry serves ${env}, not ${request.env}`);
    const now = iso();
    const sites: RegisterResult['sites'] = [];
    const linkRead = store.getLink(request.linkGuid);
    linkRead.catch(() => undefined);
    const initialising: Array<[string, SiteRecord]> = [];
    // Every Halo GUID is checked before anything is written: a refused registration leaves no trace (but for one that
    // loses a race to another link for a new Halo GUID, below, whose other sites may be written by then).
    const existingSites = await Promise.all(request.sites.map((site) => store.getSite(site.haloGuid)));
    if (existingSites.some((existing) => existing && existing.value.linkGuid !== request.linkGuid)) {
      // A Halo GUID belongs to the link that first registered it; another link claiming it is a copy or a forgery.
      throw new AppError('bad_request', 'halo guid is registered to another link');
    }
    // A few sites at a time: each takes several KV round trips, and a link with hundreds of sites must register
    // within its request's timeout. Sites are independent keys; a practice claimed twice is settled by claimPractice.
    const registeredSites = await mapBounded([...request.sites.entries()], REGISTER_CONCURRENCY, async ([i, site]) => {
      const existing = existingSites[i]!;
      if (existing && (existing.value.pmsId !== site.pmsId || existing.value.pmsType !== site.pmsType)) {
        await store.unindexSite(existing.value.pmsType, existing.value.pmsId, site.haloGuid);
      }
      const { haloGuid, ...registration } = site;
      const record: SiteRecord = {
        ...registration,
        linkGuid: request.linkGuid,
        env: request.env,
        // A site is listed as initialising until its authority is settled; an active one stays active.
        status: existing?.value.status === 'active' ? 'active' : 'initialising',
        haloLinkVersion: request.version,
        createdAt: existing?.value.createdAt ?? now,
        updatedAt: now,
      };
      // A new Halo GUID is created, not put: of two links registering it at once, the second is refused as above.
      if (existing) await store.putSite(haloGuid, record);
      else if (!(await store.createSite(haloGuid, record))) {
        const winner = await store.getSite(haloGuid);
        if (winner?.value.linkGuid !== request.linkGuid) throw new AppError('bad_request', 'halo guid is registered to another link');
        await store.putSite(haloGuid, record);
      }
      if (record.status === 'initialising') initialising.push([haloGuid, record]);
      const authoritative = await store.claimPractice(site.pmsType, site.pmsId, haloGuid);
      log.info({ linkGuid: request.linkGuid, haloGuid, pmsType: site.pmsType, authoritative }, 'site registered');
      return { haloGuid, authoritative };
    });
    sites.push(...registeredSites);

    // Sites this link registered before that have left its config are removed; authority does not move.
    const link = await linkRead;
    const registered = new Set(request.sites.map((s) => s.haloGuid));
    const configured = new Set([...(request.configuredSites ?? []), ...registered]);
    for (const haloGuid of link?.value.sites ?? []) {
      if (!configured.has(haloGuid)) await retire(haloGuid, 'removed', request.linkGuid);
    }
    const kept = (link?.value.sites ?? []).filter((g) => configured.has(g) && !registered.has(g));
    const { stoppedAt: _stopped, uninstalledAt: _uninstalled, ...previous } = link?.value ?? {};
    await store.putLink(request.linkGuid, { ...previous, version: request.version, env: request.env, sites: [...registered, ...kept], lastSeen: now });
    await Promise.all(initialising.map(([haloGuid, record]) => store.updateSite(haloGuid, { ...record, status: 'active' })));
    // The codes each site's PMS issues now replace what it issued before: a code it no longer issues stops pairing.
    const pairing = new Map((request.pairing ?? []).map((entry) => [entry.haloGuid, entry.codeHashes]));
    for (const haloGuid of registered) await store.setPairingCodes(haloGuid, pairing.get(haloGuid) ?? []);
    return { sites };
  }

  /**
   * The site a pairing code pairs with. Any link can claim any code hash for its own sites, so a code claimed by
   * sites of more than one practice pairs with none (`conflict`): it must never pair with a practice that copied it.
   */
  async function pair(request: PairRequest): Promise<PairResult> {
    if (request.codeHash === undefined) return pairWithoutCode(request);
    const claimants = await Promise.all((await store.pairingCodeSites(request.codeHash)).map((g) => views.site(g)));
    const live = claimants.filter((s): s is SiteView => s !== null && s.env === env && s.status !== 'removed' && s.status !== 'uninstalled');
    const practices = new Set(live.map((s) => practiceKey(s.pmsType, s.pmsId)));
    if (practices.size > 1) {
      log.warn({ sites: live.map((s) => s.haloGuid) }, 'pairing code claimed by more than one practice');
      throw new AppError('conflict', 'this pairing code is claimed by sites of more than one practice; ask support');
    }
    let site = live[0];
    if (!site) return { site: null };
    // A restored backup carries the same PMS and so the same code: pairing is with the practice's authoritative site.
    if (!site.authoritative) {
      const practice = await views.sitesOf(site.pmsId, site.pmsType, env);
      site = practice.find((s) => s.authoritative) ?? site;
    }
    if (site.status === 'removed' || site.status === 'uninstalled') return { site: null };
    // The code is of another practice than the one named: nothing is paired (and nothing said about the code).
    if ((request.pmsId !== undefined && site.pmsId !== request.pmsId) || (request.pmsType !== undefined && site.pmsType !== request.pmsType)) return { site: null };
    return recordPairing(request, site);
  }

  /** Pairing by PMS ID and type, for PMS types whose profile issues no codes: the practice's authoritative site. */
  async function pairWithoutCode(request: PairRequest): Promise<PairResult> {
    if (request.pmsType === undefined || request.pmsId === undefined) throw new AppError('bad_request', 'pairing needs a pairing code, or a PMS ID and type');
    if (PAIRING_CODE_PMS_TYPES.includes(request.pmsType)) throw new AppError('bad_request', 'pairingCode is required for this practice management system');
    const site = (await views.sitesOf(request.pmsId, request.pmsType, env)).find((s) => s.authoritative && s.status !== 'removed' && s.status !== 'uninstalled');
    return site ? recordPairing(request, site) : { site: null };
  }

  async function recordPairing(request: PairRequest, site: SiteView): Promise<PairResult> {
    if (request.onboardedPmsTypes && !request.onboardedPmsTypes.includes(site.pmsType)) {
      throw new AppError('not_onboarded', `the integrator is not onboarded for practice management system "${site.pmsType}"`);
    }
    await store.putPairing(request.integratorId, site, iso());
    log.info({ integratorId: request.integratorId, haloGuid: site.haloGuid }, 'site paired');
    return { site };
  }

  async function unregister(request: UnregisterRequest, msg: Msg): Promise<UnregisterResult> {
    assertSentAs('unregister', request.linkGuid, msg);
    const link = await store.getLink(request.linkGuid);
    if (!link) throw new AppError('not_found', 'no such link');
    const retired: string[] = [];
    for (const haloGuid of link.value.sites) {
      if (await retire(haloGuid, 'uninstalled', request.linkGuid)) retired.push(haloGuid);
    }
    await store.putLink(request.linkGuid, { ...link.value, uninstalledAt: iso() });
    log.info({ linkGuid: request.linkGuid, sites: retired.length }, 'link uninstalled');
    return { sites: link.value.sites };
  }

  async function lookup(request: LookupRequest): Promise<LookupResult> {
    return { sites: await views.sitesOf(request.pmsId, request.pmsType, request.env) };
  }

  async function heartbeat(msg: Msg): Promise<void> {
    const hb = decodeJson(Heartbeat, msg.data);
    // The subject is the link's own (the hub pins it); the payload is not trusted to name the same link.
    if (msg.subject !== subjects.heartbeat(hb.linkGuid)) throw new AppError('link_mismatch', 'the heartbeat names another link');
    // Compare-and-set, and never older over newer: a periodic heartbeat handled after the agent's last one (the
    // one that says it is stopping) must not mark the link running again, on this replica or another.
    for (let attempt = 0; attempt < HEARTBEAT_ATTEMPTS; attempt++) {
      const link = await store.getLink(hb.linkGuid);
      // Only links that registered are tracked; a heartbeat never creates state.
      if (!link) return;
      // When the agent sent the recorded heartbeat, by its own clock (lastSeen + the skew then measured).
      // A heartbeat overtaken on the way lags by seconds; an agent clock set back by more is taken as it is.
      const recordedSentAt = Date.parse(link.value.lastSeen) + (link.value.clockSkewMs ?? 0);
      if (hb.clock < recordedSentAt && recordedSentAt - hb.clock < OVERTAKEN_HEARTBEAT_MS) return;
      const at = now();
      const { stoppedAt: _stopped, ...record } = link.value;
      const next: LinkRecord = {
        ...record, version: hb.version, lastSeen: new Date(at).toISOString(), clockSkewMs: hb.clock - at, load: hb.load,
        ...(hb.metrics ? { metrics: hb.metrics } : {}), ...(hb.updateStatus ? { updateStatus: hb.updateStatus } : {}),
      };
      if (hb.stopping) next.stoppedAt = next.lastSeen;
      if (!(await store.updateLink(hb.linkGuid, next, link.revision))) continue;
      if (Math.abs(hb.clock - at) > thresholds.maxClockDriftMs && !(Math.abs(link.value.clockSkewMs ?? 0) > thresholds.maxClockDriftMs)) {
        log.warn({ linkGuid: hb.linkGuid, clockSkewMs: hb.clock - at }, 'link clock drift');
      }
      return;
    }
    throw new AppError('conflict', 'the link record kept changing while a heartbeat was recorded');
  }

  async function supportList(request: SupportListRequest): Promise<SupportListResult> {
    const keys = await store.practiceKeys(request);
    const practices = (await Promise.all(keys.map((k) => views.practice(k)))).filter((p) => p !== null);
    const filtered = request.pmsId !== undefined || request.pmsType !== undefined;
    // Filtered: only the links serving the listed sites; otherwise every link.
    const linkGuids = filtered ? [...new Set(practices.flatMap((p) => p.sites.map((s) => s.linkGuid)))].sort() : await store.linkGuids();
    const links = (await Promise.all(linkGuids.map((g) => views.link(g)))).filter((l) => l !== null);
    return { practices, links };
  }

  async function supportMove(request: SupportMoveRequest): Promise<SupportMoveResult> {
    const practice = await store.getPractice(request.pmsType, request.pmsId);
    if (!practice) throw new AppError('not_found', 'no practice with that PMS type and PMS ID');
    if (request.expectedEpoch !== undefined && request.expectedEpoch !== practice.value.epoch) {
      throw new AppError('conflict', `authority is at epoch ${practice.value.epoch}, not ${request.expectedEpoch}; look again and retry`);
    }
    if (practice.value.authoritative === request.to) throw new AppError('conflict', 'that site is already authoritative');
    const target = await store.getSite(request.to);
    if (!target || target.value.pmsType !== request.pmsType || target.value.pmsId !== request.pmsId) {
      throw new AppError('bad_request', 'the target is not a site of this PMS type and PMS ID');
    }
    const at = iso();
    const epoch = practice.value.epoch + 1;
    await store.updatePractice(request.pmsType, request.pmsId, { authoritative: request.to, epoch, since: at, by: request.by, reason: request.reason }, practice.revision);
    const entry: AuditEntry = {
      action: 'authority.moved', at, who: request.by, reason: request.reason,
      pmsType: request.pmsType, pmsId: request.pmsId, from: practice.value.authoritative, to: request.to, epoch,
    };
    // One entry per epoch: a retried append after a lost ack is dropped by the stream's dedup window.
    await audit.append(entry, `${practiceKey(request.pmsType, request.pmsId)}:${epoch}`);
    log.info({ pmsType: request.pmsType, from: entry.from, to: entry.to, epoch, by: request.by }, 'authority moved');
    const view = await views.practice(practiceKey(request.pmsType, request.pmsId));
    if (!view) throw new AppError('internal', 'the practice record vanished');
    return { practice: view, audit: entry };
  }

  async function supportAudit(request: SupportAuditRequest): Promise<SupportAuditResult> {
    const parsed = SupportAuditRequest.parse(request);
    return { entries: await audit.read(parsed, parsed.limit) };
  }

  // Failures that are not coded come from the KV store (timeouts, leader elections): callers should retry.
  const q = { queue: REGISTRY_QUEUE, log, unexpected: 'registry_unavailable' as const };
  const enrolment = deps.enrolment ? await Enrolment.open(nc, replicas, { config: deps.enrolment, env, audit, log, now }) : undefined;
  // Links of an account made by an earlier version may not yet be pinned to their own registration subjects.
  await enrolment?.updateLinkScope();
  const enrolmentSubs: Subscription[] = enrolment ? [
    serveJson(nc, { ...q, subject: subjects.registry('enrol'), schema: EnrolRequest, handler: (r: EnrolRequest) => enrolment.enrol(r) }),
    serveJson(nc, { ...q, subject: subjects.registry('support.enrolmentToken'), schema: SupportEnrolmentTokenRequest, handler: (r: SupportEnrolmentTokenRequest) => enrolment.issueToken(r) }),
    serveJson(nc, { ...q, subject: subjects.registry('support.revoke'), schema: SupportRevokeRequest, handler: (r: SupportRevokeRequest) => enrolment.revoke(r) }),
  ] : [];
  const subs: Subscription[] = [
    ...enrolmentSubs,
    serveJson(nc, { ...q, subject: subjects.linkRegistryAll('register'), schema: RegisterRequest, handler: counts.counted('register', register) }),
    serveJson(nc, { ...q, subject: subjects.linkRegistryAll('unregister'), schema: UnregisterRequest, handler: counts.counted('unregister', unregister) }),
    serveJson(nc, { ...q, subject: subjects.registry('lookup'), schema: LookupRequest, handler: counts.counted('lookup', lookup) }),
    serveJson(nc, { ...q, subject: subjects.registry('pair'), schema: PairRequest, handler: counts.counted('pair', pair) }),
    serveJson(nc, { ...q, subject: subjects.registry('site'), schema: SiteRequest, handler: counts.counted('site', async (r: SiteRequest): Promise<SiteResult> => ({ site: await views.site(r.haloGuid) })) }),
    serveJson(nc, { ...q, subject: subjects.registry('support.list'), schema: SupportListRequest, handler: supportList }),
    serveJson(nc, { ...q, subject: subjects.registry('support.move'), schema: SupportMoveRequest, handler: supportMove }),
    serveJson(nc, { ...q, subject: subjects.registry('support.audit'), schema: SupportAuditRequest, handler: supportAudit }),
    serveKeyRotationAudit(nc, { queue: REGISTRY_QUEUE, log, audit, now }),
    serveWebhookAudit(nc, { queue: REGISTRY_QUEUE, log, audit, now }),
    nc.subscribe(subjects.heartbeatAll(), {
      queue: REGISTRY_QUEUE,
      callback: (err, msg) => {
        if (err) return;
        heartbeat(msg).then(() => { counts.heartbeats++; }, (e: unknown) => {
          counts.heartbeatsDropped++;
          log.warn({ code: e instanceof AppError ? e.code : 'internal' }, 'heartbeat dropped');
        });
      },
    }),
  ];
  await nc.flush();
  log.info({ env }, 'registry ready');

  return {
    async close() {
      if (!nc.isClosed()) await Promise.all(subs.map((s) => s.drain()));
    },
  };
}

/** Tries to record one heartbeat against concurrent writes of the same link record (registrations, other heartbeats). */
const HEARTBEAT_ATTEMPTS = 5;
/** How far behind the recorded heartbeat (by the agent's clock) a heartbeat is taken to be one overtaken on the way. */
const OVERTAKEN_HEARTBEAT_MS = 60_000;

/** Sites of one registration written at once. */
const REGISTER_CONCURRENCY = 16;
