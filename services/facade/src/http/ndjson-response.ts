import type { ServerResponse } from 'node:http';
import type { ResultStream } from '@halo/messaging';
import { errorBody, toAppError } from './error-handler.ts';

export const NDJSON = 'application/x-ndjson';

/**
 * Streams rows as NDJSON (one record object per line) with HTTP backpressure: the next batch is asked for,
 * and so credit granted to the agent, only once the socket has taken the previous one. No size cap. A failure
 * after the headers went out is written as a last line in the error shape, `{"error":{status, code, message}}`
 * (never a row: row values are scalars), and then the connection is destroyed without the body's terminating
 * chunk, so HTTP clients report the body as cut (curl exits 18, fetch rejects) rather than complete.
 */
export async function writeNdjson(res: ServerResponse, stream: ResultStream, headers: Record<string, string>, log: { info(obj: object, msg: string): void }): Promise<void> {
  res.writeHead(200, { 'content-type': NDJSON, 'cache-control': 'no-store', ...headers });
  try {
    // The agent encoded the lines: each chunk is written as it came.
    for await (const chunk of stream) {
      if (!res.write(chunk.bytes)) {
        await drainOrClose(res);
        if (res.destroyed) {
          stream.cancel();
          return;
        }
      }
    }
    const summary = await stream.summary();
    res.end();
    log.info({ rowCount: summary.rowCount, bytes: summary.bytes, executionMs: summary.timings.executionMs }, 'query streamed');
  } catch (err) {
    const error = toAppError(err);
    log.info({ code: error.code }, 'query stream failed');
    if (res.destroyed) return;
    // Destroyed once the line is handed to the socket; a client that stopped reading is cut by the idle timeout.
    res.write(`${JSON.stringify(errorBody(error))}\n`, () => res.destroy());
  }
}

/** Resolves when the socket wants more or is gone; leaves no listener behind either way. */
function drainOrClose(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}
