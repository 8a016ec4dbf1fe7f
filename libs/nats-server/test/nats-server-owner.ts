// Fixture of nats-server.test.ts: a process owning one nats-server, printing the server's pid, waiting to be killed.
// Usage: node nats-server-owner.ts <dir>
import { join } from 'node:path';
import { NatsServerProcess, renderNatsConfig } from '../src/index.ts';

const dir = process.argv[2]!;
const config = renderNatsConfig('hub.conf.tmpl', { serverName: 'owned', clientPort: -1, leafPort: -1, storeDir: join(dir, 'jetstream') });
const server = await new NatsServerProcess({ config, dir, name: 'owned' }).start();
process.stdout.write(`${JSON.stringify({ pid: server.pid })}\n`);
setInterval(() => undefined, 60_000);
