import { STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AppError, isAppError, type ErrorCode, type HttpError } from '@halo/contracts';

/** Fastify's own client errors, by code; their messages may quote the request, so ours replace them. */
const FASTIFY_CLIENT_ERRORS: Readonly<Record<string, readonly [ErrorCode, string]>> = {
  FST_ERR_CTP_INVALID_JSON_BODY: ['bad_request', 'request body is not valid JSON'],
  FST_ERR_CTP_EMPTY_JSON_BODY: ['bad_request', 'request body is empty'],
  FST_ERR_CTP_INVALID_MEDIA_TYPE: ['bad_request', 'content-type must be application/json'],
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: ['bad_request', 'content-length does not match the body'],
  FST_ERR_CTP_BODY_TOO_LARGE: ['payload_too_large', 'request body is too large'],
  FST_ERR_BAD_URL: ['bad_request', 'the URL is not valid (bad percent-encoding)'],
  FST_ERR_MAX_PARAM_LENGTH: ['bad_request', 'a path segment is too long'],
};

/**
 * The one place errors become HTTP answers. AppErrors keep their code and message; fastify's client errors get
 * fixed messages; anything else is a 500 whose details go only to the log.
 */
export function toAppError(error: unknown): AppError {
  if (isAppError(error)) return error;
  const fastifyError = error as Partial<FastifyError> | null;
  const known = typeof fastifyError?.code === 'string' ? FASTIFY_CLIENT_ERRORS[fastifyError.code] : undefined;
  if (known) return new AppError(known[0], known[1]);
  const status = fastifyError?.statusCode;
  if (status === 413) return new AppError('payload_too_large', 'request body is too large');
  if (status === 404) return new AppError('not_found', 'not found');
  if (typeof status === 'number' && status >= 400 && status < 500) return new AppError('bad_request', 'bad request');
  return new AppError('internal', 'internal error');
}

/** Fastify error handler: `{error:{status, statusText, code, message}}`; logs codes only, never bodies or messages of client errors. */
export function errorHandler(error: unknown, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const appError = toAppError(error);
  if (appError.code === 'internal' && !isAppError(error)) {
    // Unexpected: the details are needed to fix it, and they never leave the process.
    request.log.error({ err: error }, 'request failed unexpectedly');
  } else if (appError.status >= 500) {
    request.log.warn({ code: appError.code, status: appError.status }, 'request failed');
  } else {
    request.log.info({ code: appError.code, status: appError.status }, 'request rejected');
  }
  return sendError(reply, appError);
}

/** Not-found handler: unknown routes and unsupported methods answer 404 in the error shape. */
export function notFoundHandler(_request: FastifyRequest, reply: FastifyReply): FastifyReply {
  return sendError(reply, new AppError('not_found', 'no such route'));
}

/** Node's client errors (raised before a request reaches Fastify), by code; anything else is a 400. */
const PROTOCOL_ERRORS: Readonly<Record<string, readonly [ErrorCode, string]>> = {
  ERR_HTTP_REQUEST_TIMEOUT: ['request_timeout', 'the request did not arrive in time'],
  HPE_HEADER_OVERFLOW: ['headers_too_large', 'request headers are too large'],
  HPE_CHUNK_EXTENSIONS_OVERFLOW: ['payload_too_large', 'chunk extensions are too large'],
};

/**
 * Fastify's clientErrorHandler: a request Node could not parse (400, 431) or did not receive in time (408)
 * gets the error shape and `Connection: close`, written to the socket itself (no response object exists yet),
 * and the socket closes once it is written.
 */
export function clientErrorHandler(this: FastifyInstance, error: Error & { code?: string }, socket: Duplex): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  const [code, message] = PROTOCOL_ERRORS[error.code ?? ''] ?? ['bad_request', 'the request is not valid HTTP'];
  const appError = new AppError(code, message);
  this.log.info({ code: appError.code, status: appError.status, reason: error.code }, 'request rejected');
  // As Node's own handler: answer only when no response is under way on the socket, or it would be corrupted.
  const inFlight = (socket as Duplex & { _httpMessage?: ServerResponse | null })._httpMessage;
  if (!socket.writable || inFlight?.headersSent) {
    socket.destroy();
    return;
  }
  const body = JSON.stringify(errorBody(appError));
  socket.end(
    `HTTP/1.1 ${appError.status} ${STATUS_CODES[appError.status]}\r\ncontent-type: application/json; charset=utf-8\r\n`
      + `content-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
    () => socket.destroy(),
  );
}

/** Node's checkExpectation: an `Expect` other than `100-continue` is 417, in the error shape, and closes. */
export function expectationFailed(_request: IncomingMessage, res: ServerResponse): void {
  const body = JSON.stringify(errorBody(new AppError('expectation_failed', 'only "Expect: 100-continue" is supported')));
  res.writeHead(417, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body), connection: 'close' }).end(body);
}

/** The one error envelope: Halo's `{error:{status, statusText, message}}` with our stable `code` beside them. */
export function errorBody(error: AppError): HttpError {
  return { error: { status: error.status, statusText: STATUS_CODES[error.status] ?? 'Error', code: error.code, message: error.message } };
}

function sendError(reply: FastifyReply, error: AppError): FastifyReply {
  if (error.retryAfterSeconds !== undefined) reply.header('retry-after', String(error.retryAfterSeconds));
  return reply.code(error.status).type('application/json; charset=utf-8').send(errorBody(error));
}
