import { errors, type Msg, type MsgHdrs, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import type { z } from 'zod';
import { AppError, Envelope, isAppError, type ErrorCode } from '@halo/contracts';
import type { Logger } from '@halo/log';
import { decodeJson, encodeJson } from './json-codec.ts';

export interface RequestOptions {
  timeoutMs: number;
  /** The code to throw when nobody serves the subject. */
  noResponders: ErrorCode;
  /** Explicit reply subject (agents can only answer there through a restricted leaf). */
  reply?: string;
  headers?: MsgHdrs;
}

/** Maps the client's request errors to coded errors. */
export function requestError(err: unknown, noResponders: ErrorCode, what: string): AppError {
  if (isAppError(err)) return err;
  if (err instanceof errors.RequestError && err.isNoResponders()) return new AppError(noResponders, `${what}: no responders`, { cause: err });
  if (err instanceof errors.NoRespondersError) return new AppError(noResponders, `${what}: no responders`, { cause: err });
  if (err instanceof errors.TimeoutError || (err instanceof errors.RequestError && err.cause instanceof errors.TimeoutError)) {
    return new AppError('deadline_exceeded', `${what}: no answer in time`, { cause: err });
  }
  return new AppError(noResponders, `${what}: ${err instanceof Error ? err.message : 'request failed'}`, { cause: err });
}

/**
 * Request-reply with JSON bodies: the reply is an envelope (`{ok, result}` or `{ok:false, error}`), parsed with
 * the result schema; a coded error in the envelope is rethrown as that AppError.
 */
export async function requestJson<S extends z.ZodType>(
  nc: NatsConnection,
  subject: string,
  payload: unknown,
  resultSchema: S,
  options: RequestOptions,
): Promise<z.infer<S>> {
  let msg: Msg;
  try {
    msg = await nc.request(subject, encodeJson(payload), {
      timeout: options.timeoutMs,
      ...(options.reply ? { noMux: true, reply: options.reply } : {}),
      ...(options.headers ? { headers: options.headers } : {}),
    });
  } catch (err) {
    throw requestError(err, options.noResponders, subject.split('.').slice(0, 4).join('.'));
  }
  return unwrapEnvelope(resultSchema, msg.data);
}

/** Parses a reply envelope; rethrows its error. */
export function unwrapEnvelope<S extends z.ZodType>(resultSchema: S, data: Uint8Array): z.infer<S> {
  const envelope = decodeJson(Envelope(resultSchema), data) as { ok: true; result: z.infer<S> } | { ok: false; error: { code: ErrorCode; message: string } };
  if (!envelope.ok) throw new AppError(envelope.error.code, envelope.error.message);
  return envelope.result;
}

/** The envelope of a failure; messages of non-AppErrors are hidden (they may carry anything). */
export function errorEnvelope(err: unknown): { ok: false; error: { code: ErrorCode; message: string } } {
  if (isAppError(err)) return { ok: false, error: { code: err.code, message: err.message } };
  return { ok: false, error: { code: 'internal', message: 'internal error' } };
}

export interface ServeOptions<S extends z.ZodType> {
  subject: string;
  queue?: string;
  schema: S;
  log: Logger;
  handler: (request: z.infer<S>, msg: Msg) => Promise<unknown>;
  /** Code for failures that are not AppErrors (default internal); a store-backed service says it is unavailable. */
  unexpected?: ErrorCode;
}

/**
 * Serves JSON request-reply on a subject: each message is parsed, handled and answered with an envelope.
 * Handler failures become coded errors; nothing a sender does can crash the server.
 */
export function serveJson<S extends z.ZodType>(nc: NatsConnection, options: ServeOptions<S>): Subscription {
  return nc.subscribe(options.subject, {
    ...(options.queue ? { queue: options.queue } : {}),
    callback: (err, msg) => {
      if (err) {
        options.log.error({ err, subject: options.subject }, 'subscription failed');
        return;
      }
      void handle(msg);
    },
  });

  async function handle(msg: Msg): Promise<void> {
    let reply: unknown;
    try {
      const request = decodeJson(options.schema, msg.data);
      reply = { ok: true, result: await options.handler(request, msg) };
    } catch (err) {
      if (!isAppError(err)) options.log.error({ err, subject: options.subject }, 'handler failed');
      reply = isAppError(err) || !options.unexpected ? errorEnvelope(err) : errorEnvelope(new AppError(options.unexpected, 'temporarily unavailable; retry'));
    }
    if (msg.reply) {
      try {
        msg.respond(encodeJson(reply));
      } catch (err) {
        options.log.warn({ err, subject: options.subject }, 'reply failed');
      }
    }
  }
}
