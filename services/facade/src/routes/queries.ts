import { randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from '../http/zod-schema.ts';
import { z } from 'zod';
import { HttpError, ImmediateQueryBody, ImmediateQueryFailed, ImmediateQuerySuccessful, LIMITS, isAppError, type AsyncQueryRecord } from '@halo/contracts';
import { assertPaired, queryableSite } from '../queryable-site.ts';
import type { FacadeDeps } from '../deps.ts';
import { disconnectSignal } from '../http/disconnect-signal.ts';
import { assertOnboarded, principalOf } from '../auth/integrator-access.ts';
import { errorResponses, SUBSCRIPTION_KEY_SECURITY } from '../http/openapi.ts';
import { immediateRecord, querySizes, toFailedQueryResponse, toQueryResponse, type ImmediateRequestFacts } from '../http/query-response.ts';
import { collectJsonResult } from '../nats/json-result.ts';
import { NDJSON, writeNdjson } from '../http/ndjson-response.ts';
import { arrivalOf, traceStage } from '@halo/log';

const SiteParams = z.object({ siteId: z.string() });
type SiteParams = z.infer<typeof SiteParams>;

/** Query string of the immediate query route: our opt-in `format=records` returns `columns` and `records` instead of `data`. */
export const ImmediateQueryString = z.object({ format: z.enum(['records']).optional() }).strict();
export type ImmediateQueryString = z.infer<typeof ImmediateQueryString>;

/** `POST /integrator/sites/:siteId/queries/immediate`: runs one query at the site's agent and waits for it. */
export async function queryRoutes(instance: FastifyInstance, options: { deps: FacadeDeps }): Promise<void> {
  const app = instance.withTypeProvider<ZodTypeProvider>();
  const { deps } = options;
  app.post('/sites/:siteId/queries/immediate', {
    schema: {
      summary: 'Run a query at a site and wait for the result',
      tags: ['queries'],
      security: SUBSCRIPTION_KEY_SECURITY,
      params: SiteParams,
      querystring: ImmediateQueryString,
      body: ImmediateQueryBody,
      response: {
        200: ImmediateQuerySuccessful,
        400: z.union([ImmediateQueryFailed, HttpError]).describe('query_failed: the database refused the statement (the query object, status executionFailed); bad_request: the request does not match the schema'),
        ...errorResponses(401, 403, 404, 413, 429, 503, 504),
      },
    },
  }, async (request, reply) => {
    const { siteId } = request.params;
    const { format } = request.query;
    const body = request.body;
    const site = await queryableSite(deps.directory, siteId);
    assertOnboarded(principalOf(request), site.pmsType);
    await assertPaired(deps.pairings, request.integratorId, site);

    const queryId = randomUUID();
    traceStage('facade.received', queryId, arrivalOf(request));
    request.usageQueryId = queryId;
    const receivedAt = Date.now();
    const maxTimeInQueueMs = body.maxTimeInQueue ?? LIMITS.defaultImmediateTimeInQueueMs;
    const deadline = Date.now() + maxTimeInQueueMs + deps.queryTimeoutMs;
    // Ids go in each line rather than a child logger: a child per query costs more than the lines themselves.
    const log = request.log;
    const ids = { siteId, queryId };
    log.debug({ ...ids, maxTimeInQueueMs }, 'query started');

    const facts: ImmediateRequestFacts = {
      queryId,
      integratorId: request.integratorId,
      siteId,
      maxTimeInQueue: maxTimeInQueueMs,
      ...querySizes(body, request.headers['content-length']),
      receivedAt,
    };
    // Kept for `GET .../queries/{id}` without holding up the answer: a failed write only loses that status.
    const remember = (record: AsyncQueryRecord): void => {
      deps.asyncQueries?.remember(record).catch((err: unknown) => log.warn({ ...ids, err: (err as Error).name }, 'immediate query status not kept'));
    };
    const disconnect = disconnectSignal(reply);
    let untrack: (() => void) | undefined;
    // NDJSON is written as the agent encodes it; anything else is one JSON array of row objects.
    const ndjson = body.command.executionMode === 'reader' && wantsNdjson(request.headers.accept);
    try {
      const stream = deps.queries.start(site, {
        queryId,
        rowFormat: ndjson ? 'ndjson' : 'json',
        ...(body.catalogue !== undefined ? { catalogue: body.catalogue } : {}),
        command: body.command,
        maxTimeInQueueMs,
        deadline,
      }, disconnect.signal);
      traceStage('facade.published', queryId);
      untrack = deps.immediate?.track(queryId, { integratorId: request.integratorId, siteId, cancel: () => stream.cancel() });
      const columns = await stream.columns();
      traceStage('facade.replied', queryId);
      if (ndjson) {
        reply.hijack();
        await writeNdjson(reply.raw, stream, { 'halo-query-id': queryId }, log.child(ids));
        return reply;
      }
      const result = await collectJsonResult(stream, columns);
      // One line per query: these go in the request's own (log-controller.ts).
      request.queryFacts = { integratorId: request.integratorId, ...ids, rowCount: result.rowCount, bytes: result.json.byteLength, queuedMs: result.timings.queuedMs, executionMs: result.timings.executionMs };
      const finishedAt = Date.now();
      const answer = toQueryResponse({ ...facts, executionMode: body.command.executionMode, format: format === 'records' ? 'records' : 'halo', result, finishedAt });
      // Kept once the answer has gone out: the status write is not on the way to the client.
      reply.raw.once('close', () => remember(immediateRecord(facts, site.linkGuid, body.command.executionMode, { result, resultSize: answer.resultSize, at: finishedAt })));
      traceStage('facade.answered', queryId);
      return answer;
    } catch (err) {
      if (!disconnect.signal.aborted) {
        // As Halo: a statement the database refused answers the query object with status executionFailed.
        if (isAppError(err) && err.code === 'query_failed') {
          log.info({ ...ids, code: err.code, status: err.status }, 'query failed');
          const failedAt = Date.now();
          remember(immediateRecord(facts, site.linkGuid, body.command.executionMode, { error: err, at: failedAt }));
          return reply.code(400).send(toFailedQueryResponse(facts, err, failedAt));
        }
        throw err;
      }
      // Nobody is left to answer: skip the error reply (and its 500 log) for a socket that is gone.
      log.info(ids, 'query abandoned: client disconnected');
      if (!reply.sent) reply.hijack();
      if (!reply.raw.destroyed) reply.raw.destroy();
      return reply;
    } finally {
      untrack?.();
      disconnect.dispose();
    }
  });
}

/** True when the client asks for NDJSON (streamed, uncapped) rather than one JSON document. */
function wantsNdjson(accept: string | undefined): boolean {
  return accept !== undefined && accept.split(',').some((part) => part.trim().toLowerCase().startsWith(NDJSON));
}
