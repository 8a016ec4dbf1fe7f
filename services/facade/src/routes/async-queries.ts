import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from '../http/zod-schema.ts';
import { z } from 'zod';
import {
  ASYNC_LIMITS, AppError, AsyncPageHeaders, AsyncQueryBody, AsyncQueryStatus, AsyncStatusBatchBody,
  AsyncStatusBatchResponse, AsyncSubmitResponse, Guid,
  type AsyncJob, type AsyncPageMetadata, type AsyncQueryRecord, } from '@halo/contracts';
import type { AsyncPage, AsyncQueryStore } from '../async-deps.ts';
import { isExpired, liveRecord, toAsyncStatus, visibleRecord } from '../http/async-status.ts';
import { queryableSite } from '../queryable-site.ts';
import type { FacadeDeps } from '../deps.ts';
import { assertOnboarded, principalOf, type IntegratorGate } from '../auth/integrator-access.ts';
import { errorResponses, SUBSCRIPTION_KEY_SECURITY } from '../http/openapi.ts';

const SiteParams = z.object({ siteId: z.string() });
type SiteParams = z.infer<typeof SiteParams>;
const QueryParams = z.object({ siteId: z.string(), queryId: z.string() });
type QueryParams = z.infer<typeof QueryParams>;
const PageParams = z.object({ siteId: z.string(), queryId: z.string(), page: z.coerce.number().int().positive().max(1_000_000) });
type PageParams = z.infer<typeof PageParams>;

const PAGE_DESCRIPTION = 'A JSON array of row objects; headers Rows-Count, Rows-Range-Start and Rows-Range-End (zero-based, inclusive) place it in the result.';

/**
 * Async queries under `/integrator` (ARCHITECTURE §6): submit (202), status (one or a batch), result pages
 * (whole or streamed) and cancel. A query is visible only to the integrator that created it, under its site.
 */
export async function asyncQueryRoutes(instance: FastifyInstance, options: { deps: FacadeDeps; gate: IntegratorGate; store: AsyncQueryStore }): Promise<void> {
  const app = instance.withTypeProvider<ZodTypeProvider>();
  const { deps, gate, store } = options;
  // The same gate as the other /integrator routes (this plugin is their sibling, so it adds the hook itself).
  app.addHook('onRequest', gate);
  const integratorOf = (request: object): string => principalOf(request).integratorId;

  app.post('/sites/:siteId/queries/async', {
    schema: {
      summary: 'Queue a query at a site; its result is kept in pages',
      tags: ['async queries'],
      security: SUBSCRIPTION_KEY_SECURITY,
      params: SiteParams,
      body: AsyncQueryBody,
      response: { 202: AsyncSubmitResponse, ...errorResponses(400, 401, 403, 404, 413, 429, 503) },
    },
  }, async (request, reply) => {
    const { siteId } = request.params;
    const body = request.body;
    const integratorId = integratorOf(request);
    const site = await queryableSite(deps.directory, siteId);
    assertOnboarded(principalOf(request), site.pmsType);
    const queryId = randomUUID();
    request.usageQueryId = queryId;
    const now = Date.now();
    const queueDeadline = now + (body.maxTimeInQueue ?? ASYNC_LIMITS.defaultTimeInQueueSeconds) * 1000;
    const record: AsyncQueryRecord = {
      id: queryId,
      integratorId,
      siteId,
      linkGuid: site.linkGuid,
      executionMode: body.command.executionMode,
      state: 'initialising',
      statusTiming: { initialising: new Date(now).toISOString() },
      createdAt: now,
      queueDeadline,
      attempts: 0,
    };
    const job: AsyncJob = {
      queryId,
      integratorId,
      haloGuid: siteId,
      ...(body.catalogue !== undefined ? { catalogue: body.catalogue } : {}),
      command: body.command,
      submittedAt: now,
      queueDeadline,
    };
    const stored = await store.submit(record, job);
    request.log.info({ siteId, queryId, maxTimeInQueueMs: queueDeadline - now }, 'async query queued');
    const answer: AsyncSubmitResponse = { id: queryId, siteId, status: stored.state };
    return reply.code(202).send(answer);
  });

  app.post('/sites/:siteId/queries/status', {
    schema: {
      summary: 'Status of several async queries',
      tags: ['async queries'],
      security: SUBSCRIPTION_KEY_SECURITY,
      params: SiteParams,
      body: AsyncStatusBatchBody,
      response: { 200: AsyncStatusBatchResponse, ...errorResponses(400, 401, 429, 503) },
    },
  }, async (request): Promise<AsyncStatusBatchResponse> => {
    const { siteId } = request.params;
    const { ids } = request.body;
    const integratorId = integratorOf(request);
    const unique = [...new Set(ids)];
    const found = await Promise.all(unique.map(async (id) => (Guid.safeParse(id).success ? store.get(id) : null)));
    const now = Date.now();
    const out: AsyncStatusBatchResponse = { queries: [], notFound: [], gone: [] };
    unique.forEach((id, i) => {
      const record = found[i] ?? null;
      if (!record || record.integratorId !== integratorId || record.siteId !== siteId) out.notFound.push(id);
      else if (isExpired(record, now)) out.gone.push(id);
      else out.queries.push(toAsyncStatus(record));
    });
    return out;
  });

  app.get('/sites/:siteId/queries/:queryId', {
    schema: {
      summary: 'Status of an async query',
      tags: ['async queries'],
      security: SUBSCRIPTION_KEY_SECURITY,
      params: QueryParams,
      response: { 200: AsyncQueryStatus, ...errorResponses(401, 404, 410, 429, 503) },
    },
  }, async (request): Promise<AsyncQueryStatus> => {
    const { siteId, queryId } = request.params;
    return toAsyncStatus(liveRecord(await read(store, queryId), integratorOf(request), siteId));
  });

  app.delete('/sites/:siteId/queries/:queryId', {
    schema: {
      summary: 'Cancel a query: a queued async one never runs; a running one (async or immediate) is stopped at the database',
      tags: ['async queries'],
      security: SUBSCRIPTION_KEY_SECURITY,
      params: QueryParams,
      response: { 200: z.union([AsyncQueryStatus, ImmediateCancelled]), ...errorResponses(401, 404, 409, 410, 429, 503) },
    },
  }, async (request): Promise<AsyncQueryStatus | ImmediateCancelled> => {
    const { siteId, queryId } = request.params;
    const existing = await read(store, queryId);
    // Not an async query: it may be an immediate one running on this or another facade replica.
    if (!existing && Guid.safeParse(queryId).success && (await deps.immediate?.cancel(queryId, integratorOf(request), siteId))) {
      request.log.info({ siteId, queryId }, 'immediate query cancelled');
      return { id: queryId, siteId, mode: 'immediate', status: 'cancelled' };
    }
    liveRecord(existing, integratorOf(request), siteId);
    const cancelled = visibleRecord(await store.cancel(queryId), integratorOf(request), siteId);
    request.log.info({ siteId, queryId }, 'async query cancelled');
    return toAsyncStatus(cancelled);
  });

  const pageRoute = (stream: boolean) => async (request: FastifyRequest<{ Params: PageParams }>, reply: FastifyReply): Promise<FastifyReply> => {
    const { siteId, queryId, page } = request.params;
    const record = liveRecord(await read(store, queryId), integratorOf(request), siteId);
    if (record.state !== 'successful' || record.pageCount === undefined) {
      throw new AppError('query_not_ready', `the query has no results (status ${record.state})`);
    }
    if (page > record.pageCount) throw new AppError('not_found', `page ${page} does not exist; the result has ${record.pageCount} pages`);
    const found = await store.page(queryId, page);
    if (!found) throw new AppError('gone', 'the query and its results have expired');
    setPageHeaders(reply, found.metadata);
    reply.type('application/json; charset=utf-8');
    if (stream) {
      void found.error.then((err) => {
        if (err) reply.log.warn({ queryId, page, err: err.name }, 'result page stream failed');
      });
      return reply.send(Readable.fromWeb(found.data as import('node:stream/web').ReadableStream<Uint8Array>));
    }
    return reply.header('content-length', found.size).send(await readWhole(found));
  };

  app.get('/sites/:siteId/queries/:queryId/results/:page', {
    schema: {
      summary: 'One page of an async query result',
      description: PAGE_DESCRIPTION,
      tags: ['async queries'],
      security: SUBSCRIPTION_KEY_SECURITY,
      params: PageParams,
      response: errorResponses(400, 401, 404, 409, 410, 429, 503),
    },
  }, pageRoute(false));

  app.get('/sites/:siteId/queries/:queryId/results/:page/stream', {
    schema: {
      summary: 'One page of an async query result, streamed from the result store as it is read',
      description: PAGE_DESCRIPTION,
      tags: ['async queries'],
      security: SUBSCRIPTION_KEY_SECURITY,
      params: PageParams,
      response: errorResponses(400, 401, 404, 409, 410, 429, 503),
    },
  }, pageRoute(true));
}

/** Answer of a DELETE that stopped a running immediate query. */
const ImmediateCancelled = z.object({ id: z.string(), siteId: z.string(), mode: z.literal('immediate'), status: z.literal('cancelled') });
type ImmediateCancelled = z.infer<typeof ImmediateCancelled>;

async function read(store: AsyncQueryStore, queryId: string): Promise<AsyncQueryRecord | null> {
  if (!Guid.safeParse(queryId).success) return null;
  return store.get(queryId);
}

function setPageHeaders(reply: FastifyReply, metadata: AsyncPageMetadata): void {
  reply.header(AsyncPageHeaders.rowsCount, metadata.rowsCount);
  reply.header(AsyncPageHeaders.rowsRangeStart, metadata.rowsStart);
  reply.header(AsyncPageHeaders.rowsRangeEnd, metadata.rowsStart + metadata.rowsCount - 1);
}

async function readWhole(page: AsyncPage): Promise<Buffer> {
  const parts: Uint8Array[] = [];
  for await (const part of page.data) parts.push(part);
  const err = await page.error;
  if (err) throw new AppError('internal', 'reading a result page failed', { cause: err });
  return Buffer.concat(parts);
}
