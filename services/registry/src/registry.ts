import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import {
  AppError, Heartbeat, LookupRequest, REGISTRY_QUEUE, RegisterRequest, SiteRequest, subjects,
  type Environment, type LookupResult, type RegisterResult, type SiteRecord, type SiteResult, type SiteView,
} from '@halo/contracts';
import { decodeJson, serveJson } from '@halo/messaging';
import type { Logger } from '@halo/log';
import { availabilityOf } from './availability.ts';
import { RegistryStore } from './store.ts';

export interface RegistryDeps {
  nc: NatsConnection;
  log: Logger;
  /** The environment this registry serves; registrations for another are refused. */
  env: Environment;
  /** KV replicas: 1 on a single dev server, 3 in a cluster. */
  replicas?: number;
}

export interface Registry {
  close(): Promise<void>;
}

/** Starts one registry replica: it joins the queue group, so any number run side by side. */
export async function startRegistry(deps: RegistryDeps): Promise<Registry> {
  const { nc, log, env } = deps;
  const store = await RegistryStore.open(nc, deps.replicas ?? 1);

  async function register(request: RegisterRequest): Promise<RegisterResult> {
    if (request.env !== env) throw new AppError('bad_request', `this registry serves ${env}, not ${request.env}`);
    const now = new Date().toISOString();
    const sites: RegisterResult['sites'] = [];
    for (const site of request.sites) {
      const existing = await store.getSite(site.haloGuid);
      if (existing && existing.value.linkGuid !== request.linkGuid) {
        // A Halo GUID belongs to the link that first registered it; another link claiming it is a copy or a forgery.
        throw new AppError('bad_request', 'halo guid is registered to another link');
      }
      if (existing && (existing.value.pmsId !== site.pmsId || existing.value.pmsType !== site.pmsType)) {
        await store.unindexSite(existing.value.pmsType, existing.value.pmsId, site.haloGuid);
      }
      const { haloGuid, ...registration } = site;
      const record: SiteRecord = {
        ...registration,
        linkGuid: request.linkGuid,
        env: request.env,
        status: 'active',
        haloLinkVersion: request.version,
        createdAt: existing?.value.createdAt ?? now,
        updatedAt: now,
      };
      await store.putSite(haloGuid, record);
      const authoritative = await store.claimPractice(site.pmsType, site.pmsId, haloGuid);
      sites.push({ haloGuid, authoritative });
      log.info({ linkGuid: request.linkGuid, haloGuid, pmsType: site.pmsType, authoritative }, 'site registered');
    }
    await store.putLink(request.linkGuid, { version: request.version, env: request.env, sites: request.sites.map((s) => s.haloGuid), lastSeen: now });
    return { sites };
  }

  async function view(haloGuid: string): Promise<SiteView | null> {
    const site = await store.getSite(haloGuid);
    if (!site) return null;
    const [practice, link] = await Promise.all([store.getPractice(site.value.pmsType, site.value.pmsId), store.getLink(site.value.linkGuid)]);
    return {
      ...site.value,
      haloGuid,
      authoritative: practice?.value.authoritative === haloGuid,
      availability: availabilityOf(link?.value.lastSeen),
      ...(link ? { lastSeen: link.value.lastSeen } : {}),
    };
  }

  async function lookup(request: LookupRequest): Promise<LookupResult> {
    const guids = await store.sitesOfPractice(request.pmsId, request.pmsType);
    const views = await Promise.all(guids.map(view));
    return {
      sites: views
        .filter((v): v is SiteView => v !== null && v.pmsId === request.pmsId && (!request.env || v.env === request.env))
        .sort((a, b) => Number(b.authoritative) - Number(a.authoritative) || a.createdAt.localeCompare(b.createdAt)),
    };
  }

  async function heartbeat(data: Uint8Array): Promise<void> {
    const hb = decodeJson(Heartbeat, data);
    const link = await store.getLink(hb.linkGuid);
    // Only links that registered are tracked; a heartbeat never creates state.
    if (!link) return;
    await store.putLink(hb.linkGuid, { ...link.value, version: hb.version, lastSeen: new Date().toISOString() });
  }

  const subs: Subscription[] = [
    serveJson(nc, { subject: subjects.registry('register'), queue: REGISTRY_QUEUE, schema: RegisterRequest, log, handler: register }),
    serveJson(nc, { subject: subjects.registry('lookup'), queue: REGISTRY_QUEUE, schema: LookupRequest, log, handler: lookup }),
    serveJson(nc, {
      subject: subjects.registry('site'),
      queue: REGISTRY_QUEUE,
      schema: SiteRequest,
      log,
      handler: async (r: SiteRequest): Promise<SiteResult> => ({ site: await view(r.haloGuid) }),
    }),
    nc.subscribe(subjects.heartbeatAll(), {
      queue: REGISTRY_QUEUE,
      callback: (err, msg) => {
        if (err) return;
        heartbeat(msg.data).catch((e: unknown) => log.warn({ code: e instanceof AppError ? e.code : 'internal' }, 'heartbeat dropped'));
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
