import type { FastifyInstance } from 'fastify';
import { AppError } from '@halo/contracts';

/**
 * Replaces Fastify's JSON body parser with one that takes an empty body as no body (where the route takes none)
 * and refuses invalid UTF-8 (400 `bad_request`) instead of decoding it to U+FFFD, which would run a query other
 * than the one sent. Parsing itself stays Fastify's
 * (secure-json-parse, refusing `__proto__` and `constructor.prototype` keys).
 */
export function strictJsonBodies(app: FastifyInstance): void {
  const parseJson = app.getDefaultJsonParser('error', 'error');
  const utf8 = new TextDecoder('utf-8', { fatal: true });
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (request, body, done) => {
    // Many HTTP clients send `Content-Type: application/json` on every request: an empty body is no body on a
    // route that takes none (GET, DELETE, pair-site), and 400 on one that needs it.
    if ((body as Buffer).length === 0) {
      if (request.routeOptions.schema?.body === undefined) done(null, undefined);
      else done(new AppError('bad_request', 'request body is empty'), undefined);
      return;
    }
    let text: string;
    try {
      text = utf8.decode(body as Buffer);
    } catch {
      done(new AppError('bad_request', 'request body is not valid UTF-8'), undefined);
      return;
    }
    parseJson(request, text, done);
  });
}
