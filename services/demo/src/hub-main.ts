// Entry of the demo's hub process: the hub nats-server in operator/JWT mode (full account resolver, leafnode
// TLS), its config rendered from the secrets folder `halo-admin init` wrote, run through NatsServerProcess.
// It runs as a child of the demo in its own process group, so a terminal's Ctrl-C reaches only the demo, which
// stops the hub last; if its nats-server dies unasked the process exits 1, so the demo's supervisor restarts it.
// Usage: node hub-main.ts <hub dir> <secrets dir> [log level] [client port] [leaf port] [monitoring port]
// (ports default -1: free ones)
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { LogLevel, runService } from '@halo/config';
import { createLogger } from '@halo/log';
import { NatsServerProcess } from '@halo/nats-server';
import { loadSecureSetup, renderSecureHubConfig } from '@halo/nats-auth';

const dir = process.argv[2];
const secrets = process.argv[3];
if (!dir || !secrets) {
  console.error('usage: node hub-main.ts <hub dir> <secrets dir> [log level] [client port] [leaf port] [monitoring port]');
  process.exit(2);
}
const level = LogLevel.safeParse(process.argv[4]).data ?? 'info';
const port = (arg: string | undefined) => (arg && /^\d+$/.test(arg) ? Number(arg) : -1);
const log = createLogger({ name: 'hub', level });
const hubDir = resolve(dir);
const setup = loadSecureSetup(resolve(secrets));
// A stable server name, store and resolver folders keep the registry's KV buckets and pushed account updates
// (revocations) across runs and restarts; -1 lets the server pick free loopback ports (a restart gets the ones picked).
const config = renderSecureHubConfig(setup, {
  serverName: 'halo-demo-hub', clientPort: port(process.argv[5]), leafPort: port(process.argv[6]), storeDir: join(hubDir, 'jetstream'), resolverDir: join(hubDir, 'jwt'),
});
// nats-server's monitoring endpoints (/varz, /leafz, /jsz, /healthz) on loopback, as on a deployed hub node: the
// registry reads leaf connections from it. nats-server does not log a port it picked, so a free one is picked here.
const monitorPort = port(process.argv[7]) > 0 ? port(process.argv[7]) : await freePort();
const monitored = `${config}\nhttp: "127.0.0.1:${monitorPort}"\n`;
await runService({
  log,
  async start(scope) {
    // NatsServerProcess has logged 'nats-server exited'; a hub process without its server is a failed one.
    const server = new NatsServerProcess({ config: monitored, dir: hubDir, name: 'hub', log, onUnexpectedExit: () => process.exit(1) });
    await server.start();
    scope.defer('nats-server', () => server.close());
    log.info({ clientUrl: server.clientUrl, leafUrl: server.leafUrl, monitorUrl: `http://127.0.0.1:${monitorPort}`, pid: server.pid }, 'hub ready');
  },
});

function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port: picked } = probe.address() as { port: number };
      probe.close(() => resolvePort(picked));
    });
  });
}
