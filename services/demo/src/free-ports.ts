import { createServer, type Server } from 'node:net';

function listen(port: number): Promise<Server | null> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(null));
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}

const close = (servers: ReadonlyArray<Server | null>) => Promise.all(servers.map((s) => s && new Promise((resolve) => s.close(resolve))));

/** `n` distinct loopback ports the OS says are free now (held together, so no duplicates, then released). */
export async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(Array.from({ length: n }, () => listen(0)));
  const ports = servers.map((s) => {
    const address = s?.address();
    if (!address || typeof address === 'string') throw new Error('could not pick a free port');
    return address.port;
  });
  await close(servers);
  return ports;
}

/**
 * The first of `n` consecutive free loopback ports (hub nodes on one host: halo-admin gives node i each base port
 * plus i). Tries random bases in 20000-59999.
 */
export async function freePortRun(n: number): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 20_000 + Math.floor(Math.random() * 40_000);
    const servers = await Promise.all(Array.from({ length: n }, (_, i) => listen(base + i)));
    await close(servers);
    if (servers.every((s) => s !== null)) return base;
  }
  throw new Error(`found no ${n} consecutive free ports`);
}
