import { KvWatchInclude } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import type { FastifyBaseLogger, FastifyReply, FastifyRequest } from 'fastify';
import { bindBucket } from '@halo/messaging';

/** The registry's buckets whose changes the console shows live: availability (links), sites, authority. */
const LIVE_BUCKETS = ['links', 'sites', 'practices'] as const;
/** A comment line this often keeps proxies from closing a quiet stream. */
const KEEPALIVE_MS = 15_000;

/**
 * `text/event-stream` of registry changes for one browser: an event `change` (`{"bucket":..., "key":...}`) per KV
 * update of the watched buckets, straight from JetStream's KV watch (no polling). The page refetches what it shows.
 */
export async function streamRegistryChanges(nc: NatsConnection, request: FastifyRequest, reply: FastifyReply, log: FastifyBaseLogger): Promise<void> {
  const watches = await Promise.all(LIVE_BUCKETS.map(async (bucket) => ({ bucket, iter: await (await bindBucket(nc, bucket)).watch({ include: KvWatchInclude.UpdatesOnly }) })));
  reply.hijack();
  const res = reply.raw;
  res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', connection: 'keep-alive', 'x-accel-buffering': 'no' });
  // A browser that went away mid-write must not become an unhandled 'error' event.
  res.on('error', () => undefined);
  const send = (text: string) => {
    if (!res.destroyed && !res.writableEnded) res.write(text);
  };
  send(': live\n\n');
  const keepalive = setInterval(() => send(': keepalive\n\n'), KEEPALIVE_MS);
  const stop = () => {
    clearInterval(keepalive);
    for (const { iter } of watches) iter.stop();
  };
  request.raw.on('close', stop);
  res.on('close', stop);
  for (const { bucket, iter } of watches) {
    void (async () => {
      try {
        for await (const entry of iter) {
          // Keys only: the page asks for what it shows through its own (signed-in) request.
          send(`event: change\ndata: ${JSON.stringify({ bucket, key: entry.key })}\n\n`);
        }
      } catch (err) {
        log.warn({ bucket, err: err instanceof Error ? err.name : typeof err }, 'console live watch ended');
        if (!res.destroyed) res.end();
      }
    })();
  }
}
