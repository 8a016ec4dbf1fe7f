// Entry of the demo's hub process: one nats-server (JetStream, leafnode listener) run through NatsServerProcess.
// It runs as a child of the demo in its own process group, so a terminal's Ctrl-C reaches only the demo, which
// stops the hub last. Usage: node hub-main.ts <hub dir> [log level]
import { join, resolve } from 'node:path';
import { createLogger } from '@halo/log';
import { NatsServerProcess, renderNatsConfig } from '@halo/messaging';

const dir = process.argv[2];
if (!dir) {
  console.error('usage: node hub-main.ts <hub dir> [log level]');
  process.exit(2);
}
const LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
const level = LEVELS.find((l) => l === process.argv[3]) ?? 'info';
const log = createLogger({ name: 'hub', level });
const hubDir = resolve(dir);
// A stable server name and store folder keep the registry's KV buckets across runs; -1 lets the server pick free ports.
const config = renderNatsConfig('hub.conf.tmpl', { serverName: 'halo-demo-hub', clientPort: -1, leafPort: -1, storeDir: join(hubDir, 'jetstream') });
const server = new NatsServerProcess({ config, dir: hubDir, name: 'hub', log });
await server.start();
log.info({ clientUrl: server.clientUrl, leafUrl: server.leafUrl, pid: server.pid }, 'hub ready');

let stopping = false;
async function stop(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  log.info({ signal }, 'hub stopping');
  await server.close();
  log.info('hub stopped');
}
process.once('SIGINT', () => void stop('SIGINT'));
process.once('SIGTERM', () => void stop('SIGTERM'));
