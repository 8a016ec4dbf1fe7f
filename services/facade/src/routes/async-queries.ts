import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import type { FastifyInstance, FastifyReply, FastifyRequest, RouteHandlerMethod } from 'fastify';
import type { ZodTypeProvider } from '../http/zod-schema.ts';
import { z } from 'zod';
import {
  ASYNC_LIMITS, AppError, AsyncPageHeaders, AsyncQuery, AsyncQueryBody, Guid, QueryStatus, QueryStatusBatchBody, QueryStatusBatchResponse,
  ResultPageBody, type AsyncJob, type AsyncPageMetadata, type AsyncQueryRecord, } from '@halo/contracts';
import type { AsyncPage, AsyncQueryStore } from '../async-deps.ts';
import { isExpired, liveRecord, toAsyncStatus, toQueryStatus, visibleRecord } from '../http/async-status.ts';
import { assertPaired, queryableSite } from '../queryable-site.ts';
import { querySizes } from '../http/query-response.ts';
import type { FacadeDeps } from '../deps.ts';
import { assertOnboarded, principalOf, type IntegratorGate } from '../auth/integrator-access.ts';
import { errorResponses, SUBSCRIPTION_KEY_SECURITY } from '../http/openapi.ts';

const SiteParams = z.object({ siteId: z.string() });
type SiteParams = z.infer<typeof SiteParams>;
const QueryParams = z.object({ siteId: z.string(), queryId: z.string() });
type QueryParams = z.infer<typeof QueryParams>;
const PageParams = z.object({ siteId: z.string(), queryId: z.string(), page: z.coerce.number().int().positive().max(1_000_000) });
type PageParams = z.infer<typeof PageParams>;

const PAGE_DESCRIPTION = '`data` is base64 of the page\'s UTF-8 JSON array of row objects; headers Size (bytes of that JSON), Rows-Count, '
  + 'Rows-Range-Start and Rows-Range-End (zero-based, inclusive) place it in the result. 410 once the results expired.';

/**
 * Async queries under `/integrator` (ARCHITECTURE §6): submit (201), status (one or a batch), result pages
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
      response: { 201: AsyncQuery, ...errorResponses(400, 401, 403, 404, 413, 429, 503) },
    },
  }, async (request, reply) => {
    const { siteId } = request.params;
    const body = request.body;
    const integratorId = integratorOf(request);
    const site = await queryableSite(deps.directory, siteId);
    assertOnboarded(principalOf(request), site.pmsType);
    await assertPaired(deps.pairings, integratorId, site);
    const queryId = randomUUID();
    request.usageQueryId = queryId;
    const now = Date.now();
    const queueDeadline = now + (body.maxTimeInQueue ?? ASYNC_LIMITS.defaultTimeInQueueMs);
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
      ...querySizes(body, request.headers['content-length']),
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
    return reply.code(201).send(toAsyncStatus(stored));
  });

  app.post('/sites/:siteId/queries/status', {
    schema: {
      summary: 'Status of several async queries',
      description: 'Each id is `found` (with its query) or `notFound`: unknown, another integrator\'s or site\'s, or expired.',
      tags: ['async queries'],
      security: SUBSCRIPTION_KEY_SECURITY,
      params: SiteParams,
      body: QueryStatusBatchBody,
      response: { 200: QueryStatusBatchResponse, ...errorResponses(400, 401, 429, 503) },
    },
  }, async (request): Promise<QueryStatusBatchResponse> => {
    const { siteId } = request.params;
    const integratorId = integratorOf(request);
    const unique = [...new Set(request.body.queryIds)];
    const found = await Promise.all(unique.map(async (id) => (Guid.safeParse(id).success ? store.get(id) : null)));
    const now = Date.now();
    return {
      results: unique.map((queryId, i) => {
        const record = found[i] ?? null;
        if (!record || record.integratorId !== integratorId || record.siteId !== siteId || isExpired(record, now)) return { queryId, status: 'notFound' };
        return { queryId, status: 'found', query: toQueryStatus(record) };
      }),
    };
  });

  app.get('/sites/:siteId/queries/:queryId', {
    schema: {
      summary: 'Status of an async query',
      tags: ['async queries'],
      security: SUBSCRIPTION_KEY_SECURITY,
      params: QueryParams,
      response: { 200: QueryStatus, ...errorResponses(401, 404, 410, 429, 503) },
    },
  }, async (request): Promise<QueryStatus> => {
    const { siteId, queryId } = request.params;
    return toQueryStatus(liveRecord(await read(store, queryId), integratorOf(request), siteId));
  });

  app.delete('/sites/:siteId/queries/:queryId', {
    schema: {
      summary: 'Cancel a query: a queued async one never runs; a running one (async or immediate) is stopped at the database',
      tags: ['async queries'],
      security: SUBSCRIPTION_KEY_SECURITY,
      params: QueryParams,
      response: { 200: z.union([AsyncQuery, ImmediateCancelled]), ...errorResponses(401, 404, 409, 410, 429, 503) },
    },
  }, async (request): Promise<AsyncQuery | ImmediateCancelled> => {
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

  // Typed as a plain handler: it sends the page itself (streamed or whole), so the 200 schema only documents it.
  const pageRoute = (stream: boolean): RouteHandlerMethod => async (request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> => {
    const { siteId, queryId, page } = request.params as PageParams;
    const record = liveRecord(await read(store, queryId), integratorOf(request), siteId);
    // Only the owner gets here (others: 404); Halo requires the pairing (with the site's practice) for result reads too.
    if (deps.pairings) {
      const site = await deps.directory.get(siteId);
      if (!site) throw new AppError('site_not_found', 'site not found');
      await assertPaired(deps.pairings, record.integratorId, site);
    }
    if (record.mode === 'immediate') throw new AppError('not_found', 'an immediate query has no result pages: its rows were in its answer');
    if (record.state !== 'successful' || record.pageCount === undefined) {
      throw new AppError('query_not_ready', `the query has no results (status ${record.state})`);
    }
    if (page > record.pageCount) throw new AppError('not_found', `page ${page} does not exist; the result has ${record.pageCount} pages`);
    const found = await store.page(queryId, page);
    if (!found) throw new AppError('gone', 'the query and its results have expired');
    setPageHeaders(reply, found.metadata, found.size);
    reply.type('application/json; charset=utf-8');
    if (stream) {
      void found.error.then((err) => {
        if (err) reply.log.warn({ queryId, page, err: err.name }, 'result page stream failed');
      });
      return reply.send(Readable.from(base64Body(found.data)));
    }
    const body = Buffer.from(JSON.stringify({ data: (await readWhole(found)).toString('base64') } satisfies ResultPageBody), 'utf8');
    return reply.header('content-length', body.byteLength).send(body);
  };

  app.get('/sites/:siteId/queries/:queryId/results/:page', {
    schema: {
      summary: 'One page of an async query result',
      description: PAGE_DESCRIPTION,
      tags: ['async queries'],
      security: SUBSCRIPTION_KEY_SECURITY,
      params: PageParams,
      response: { 200: ResultPageBody, ...errorResponses(400, 401, 404, 409, 410, 429, 503) },
    },
  }, pageRoute(false));

  app.get('/sites/:siteId/queries/:queryId/results/:page/stream', {
    schema: {
      summary: 'One page of an async query result, streamed from the result store as it is read',
      description: PAGE_DESCRIPTION,
      tags: ['async queries'],
      security: SUBSCRIPTION_KEY_SECURITY,
      params: PageParams,
      response: { 200: ResultPageBody, ...errorResponses(400, 401, 404, 409, 410, 429, 503) },
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

function setPageHeaders(reply: FastifyReply, metadata: AsyncPageMetadata, size: number): void {
  reply.header(AsyncPageHeaders.size, size);
  reply.header(AsyncPageHeaders.rowsCount, metadata.rowsCount);
  reply.header(AsyncPageHeaders.rowsRangeStart, metadata.rowsStart);
  reply.header(AsyncPageHeaders.rowsRangeEnd, metadata.rowsStart + metadata.rowsCount - 1);
}

/** `{"data":"<base64>"}` written as the page is read: base64 of each whole 3 bytes, the rest carried over. */
async function* base64Body(data: ReadableStream<Uint8Array>): AsyncGenerator<Buffer> {
  yield Buffer.from('{"data":"');
  let rest = Buffer.alloc(0);
  for await (const part of data) {
    const bytes = rest.length > 0 ? Buffer.concat([rest, part]) : Buffer.from(part);
    const whole = bytes.length - (bytes.length % 3);
    if (whole > 0) yield Buffer.from(bytes.subarray(0, whole).toString('base64'));
    rest = bytes.subarray(whole);
  }
  yield Buffer.from(`${rest.toString('base64')}"}`);
}

async function readWhole(page: AsyncPage): Promise<Buffer> {
  const parts: Uint8Array[] = [];
  for await (const part of page.data) parts.push(part);
  const err = await page.error;
  if (err) throw new AppError('internal', 'reading a result page failed', { cause: err });
  return Buffer.concat(parts);
}
