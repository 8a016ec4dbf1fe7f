import { randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import {
  AppError, Guid, RegisteredQueryBody, RegisteredQueryCreated, RegisteredQueryList, RegisteredQueryResult, RegisteredQueryView,
  type RegisteredQueryRecord,
} from '@halo/contracts';
import type { ZodTypeProvider } from '../http/zod-schema.ts';
import type { FacadeDeps } from '../deps.ts';
import type { RegisteredQueryStore } from '../registered-deps.ts';
import { assertPaired, queryableSite } from '../queryable-site.ts';
import { assertOnboarded, principalOf, type IntegratorGate } from '../auth/integrator-access.ts';
import { errorResponses, SUBSCRIPTION_KEY_SECURITY } from '../http/openapi.ts';

const SiteParams = z.object({ siteId: z.string() });
const QueryParams = z.object({ siteId: z.string(), queryId: z.string() });

/**
 * Halo's registered queries under `/integrator`: create (202 `{id}`), list the enabled ones, get one, cancel
 * (204) and read the last result. Workers run them on schedule; a registered query is visible only to the
 * integrator that created it, under its site.
 */
export async function registeredQueryRoutes(instance: FastifyInstance, options: { deps: FacadeDeps; gate: IntegratorGate; store: RegisteredQueryStore }): Promise<void> {
  const app = instance.withTypeProvider<ZodTypeProvider>();
  const { deps, gate, store } = options;
  app.addHook('onRequest', gate);

  /** The site if this integrator may query it now (site, pairing and onboarding checks of every query). */
  const site = async (request: object, siteId: string) => {
    const found = await queryableSite(deps.directory, siteId);
    assertOnboarded(principalOf(request), found.pmsType);
    await assertPaired(deps.pairings, principalOf(request).integratorId, found);
    return found;
  };
  /** The integrator's registered query at the site, or 404. */
  const own = async (request: object, siteId: string, id: string): Promise<RegisteredQueryRecord> => {
    const record = Guid.safeParse(id).success && Guid.safeParse(siteId).success ? await store.get(siteId, id) : null;
    if (!record || record.integratorId !== principalOf(request).integratorId) throw new AppError('not_found', 'registered query not found');
    return record;
  };

  app.post('/sites/:siteId/queries/registered', {
    schema: {
      summary: 'Register a query that runs at the site every `frequency` seconds for `duration` seconds',
      description: 'frequency: seconds between runs (default 60; at least the operator minimum, Halo: 60). duration: seconds, at most 86400.',
      tags: ['registered queries'],
      security: SUBSCRIPTION_KEY_SECURITY,
      params: SiteParams,
      body: RegisteredQueryBody,
      response: { 202: RegisteredQueryCreated, ...errorResponses(400, 401, 403, 404, 413, 429, 503) },
    },
  }, async (request, reply) => {
    const { siteId } = request.params;
    const body = request.body;
    if (body.frequency < store.minFrequencySeconds) throw new AppError('bad_request', `frequency must be at least ${store.minFrequencySeconds} seconds`);
    await site(request, siteId);
    const record: RegisteredQueryRecord = {
      id: randomUUID(),
      integratorId: principalOf(request).integratorId,
      siteId,
      name: body.name,
      frequency: body.frequency,
      duration: body.duration,
      ...(body.catalogue !== undefined ? { catalogue: body.catalogue } : {}),
      command: body.registerCommand.command,
      status: 'enabled',
      createdAt: Date.now(),
      lastTick: -1,
      skippedTicks: 0,
      metrics: {
        executionSucceededCount: 0,
        executionFailedCount: 0,
        resultSizeSum: 0,
        requestSize: Buffer.byteLength(JSON.stringify(body.registerCommand)),
      },
    };
    const stored = await store.create(record);
    request.log.info({ siteId, registeredId: stored.id, frequency: stored.frequency, duration: stored.duration, status: stored.status }, 'registered query created');
    const answer: RegisteredQueryCreated = { id: stored.id };
    return reply.code(202).send(answer);
  });

  app.get('/sites/:siteId/queries/registered', {
    schema: {
      summary: 'The enabled registered queries of this integrator at the site',
      tags: ['registered queries'],
      security: SUBSCRIPTION_KEY_SECURITY,
      params: SiteParams,
      response: { 200: RegisteredQueryList, ...errorResponses(401, 403, 404, 429, 503) },
    },
  }, async (request): Promise<RegisteredQueryList> => {
    const { siteId } = request.params;
    await site(request, siteId);
    const integratorId = principalOf(request).integratorId;
    const records = await store.list(siteId);
    return { registeredQueries: records.filter((r) => r.integratorId === integratorId && r.status === 'enabled').map(toView) };
  });

  app.get('/sites/:siteId/queries/registered/:queryId', {
    schema: {
      summary: 'A registered query: status, last hash, last error and metrics',
      tags: ['registered queries'],
      security: SUBSCRIPTION_KEY_SECURITY,
      params: QueryParams,
      response: { 200: RegisteredQueryView, ...errorResponses(401, 403, 404, 429, 503) },
    },
  }, async (request): Promise<RegisteredQueryView> => {
    const { siteId, queryId } = request.params;
    await site(request, siteId);
    return toView(await own(request, siteId, queryId));
  });

  app.delete('/sites/:siteId/queries/registered/:queryId', {
    schema: {
      summary: 'Cancel a registered query: no run starts after this',
      tags: ['registered queries'],
      security: SUBSCRIPTION_KEY_SECURITY,
      params: QueryParams,
      response: { 204: z.null().describe('Cancelled'), ...errorResponses(401, 403, 404, 409, 429, 503) },
    },
  }, async (request, reply) => {
    const { siteId, queryId } = request.params;
    await site(request, siteId);
    await own(request, siteId, queryId);
    await store.cancel(siteId, queryId);
    request.log.info({ siteId, registeredId: queryId }, 'registered query cancelled');
    return reply.code(204).send(null);
  });

  app.get('/sites/:siteId/queries/registered/:queryId/results', {
    schema: {
      summary: 'The last result of a registered query',
      description: '`data` is base64 of the UTF-8 JSON array of row objects; `rows` their count; `size` the JSON bytes. 409 query_not_ready before the first successful run.',
      tags: ['registered queries'],
      security: SUBSCRIPTION_KEY_SECURITY,
      params: QueryParams,
      response: { 200: RegisteredQueryResult, ...errorResponses(401, 403, 404, 409, 429, 503) },
    },
  }, async (request): Promise<RegisteredQueryResult> => {
    const { siteId, queryId } = request.params;
    await site(request, siteId);
    const record = await own(request, siteId, queryId);
    const result = record.lastHash === undefined ? null : await store.result(record.id);
    if (!result) throw new AppError('query_not_ready', 'the registered query has no successful run yet');
    return result;
  });
}

/** Halo's view of a record: never the command, the integrator or our bookkeeping. */
function toView(record: RegisteredQueryRecord): RegisteredQueryView {
  return {
    id: record.id,
    name: record.name,
    registeredQueryType: 'query',
    status: record.status,
    frequency: record.frequency,
    duration: record.duration,
    ...(record.lastHash !== undefined ? { lastHash: record.lastHash } : {}),
    ...(record.lastErrorDetails ? { lastErrorDetails: record.lastErrorDetails } : {}),
    metrics: record.metrics,
    createdAt: new Date(record.createdAt).toISOString(),
    ...(record.completedAt !== undefined ? { completedAt: new Date(record.completedAt).toISOString() } : {}),
  };
}
