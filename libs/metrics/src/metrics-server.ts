import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import type { Logger } from '@halo/log';

/** Why the service should not get work now, or null when it should. */
export type Readiness = () => string | null | Promise<string | null>;

export interface MetricsServerOptions {
  registry: Registry;
  log: Logger;
  /** HALO_METRICS_PORT: 0 picks a free port. */
  port: number;
  /** HALO_METRICS_HOST; default 127.0.0.1 (an internal listener: never the public interface by default). */
  host?: string;
  /**
   * With it, `/health/live` and `/health/ready` are served too: ready is 200 while this answers null, 503 with the
   * reason otherwise (and always once `drain()` was called). Without it only `/metrics` is served.
   */
  readiness?: Readiness;
}

/** The internal listener of a service. */
export interface MetricsServer {
  readonly port: number;
  /** Base URL, e.g. `http://127.0.0.1:41234`. */
  readonly url: string;
  /** From now on `/health/ready` answers 503 (shutdown began); `/metrics` and `/health/live` still answer. */
  drain(): void;
  close(): Promise<void>;
}

/**
 * Listens on the internal port and serves `/metrics` (Prometheus text) and, with `readiness`, the health probes.
 * Plain `node:http` rather than a framework: three GET routes on a port that is never exposed to integrators.
 * Logs the bound port once (`{ port }`, 'metrics listening') so runners that asked for port 0 can read it.
 */
export async function startMetricsServer(options: MetricsServerOptions): Promise<MetricsServer> {
  const { registry, log, readiness } = options;
  let draining = false;
  const server = createServer((request, response) => {
    handle(request, response).catch((err: unknown) => {
      log.warn({ err: err instanceof Error ? err.name : typeof err }, 'metrics request failed');
      if (!response.headersSent) send(response, 500, 'text/plain; charset=utf-8', 'internal error\n');
      else response.destroy();
    });
  });
  async function handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const path = (request.url ?? '/').split('?')[0];
    if (request.method !== 'GET' && request.method !== 'HEAD') return send(response, 405, 'text/plain; charset=utf-8', 'method not allowed\n');
    if (path === '/metrics') return send(response, 200, registry.contentType, await registry.metrics());
    if (readiness && path === '/health/live') return sendJson(response, 200, { status: 'ok' });
    if (readiness && path === '/health/ready') {
      const reason = draining ? 'it is draining for shutdown' : await readiness();
      if (reason === null) return sendJson(response, 200, { status: 'ok' });
      return sendJson(response, 503, { error: { status: 503, code: 'service_unavailable', message: `not ready: ${reason}` } });
    }
    return sendJson(response, 404, { error: { status: 404, code: 'not_found', message: 'no such route' } });
  }
  // A scrape or probe is one short request: an idle keep-alive socket must not hold close() up.
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  log.info({ port: address.port }, 'metrics listening');
  return {
    port: address.port,
    url: `http://${host}:${address.port}`,
    drain() {
      draining = true;
    },
    close: () => new Promise<void>((resolve, reject) => {
      server.close((err) => (err ? reject(err) : resolve()));
      server.closeAllConnections();
    }),
  };
}

function send(response: ServerResponse, status: number, contentType: string, body: string): void {
  response.writeHead(status, { 'content-type': contentType, 'cache-control': 'no-store' });
  response.end(body);
}

function sendJson(response: ServerResponse, status: number, body: unknown): void {
  send(response, status, 'application/json; charset=utf-8', JSON.stringify(body));
}
