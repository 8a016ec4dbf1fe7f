import type { FastifyReply } from 'fastify';

/** An AbortSignal that fires when the HTTP client goes away before the response is complete. */
export function disconnectSignal(reply: FastifyReply): { signal: AbortSignal; dispose(): void } {
  const controller = new AbortController();
  const res = reply.raw;
  // `close` on the response fires both after a normal finish and when the socket dies first;
  // only the second means nobody is waiting for the answer any more.
  const onClose = (): void => {
    if (!res.writableFinished) controller.abort();
  };
  res.on('close', onClose);
  return { signal: controller.signal, dispose: () => res.off('close', onClose) };
}
