import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { NatsServerProcess, renderNatsConfig } from '@halo/nats-server';
import type { Logger } from '@halo/log';

export interface ClusterOptions {
  /** Nodes; 3 for R3 buckets. */
  size?: number;
  /** Parent folder for the nodes' configs and stores; a temp folder (removed on close) by default. */
  dir?: string;
  log?: Logger;
  /** Milliseconds to wait for a JetStream meta-leader that every node knows. */
  readyTimeoutMs?: number;
}

/** A nats-server cluster with JetStream on loopback ports, every node reachable by index. */
export interface RunningCluster {
  readonly size: number;
  readonly dir: string;
  /** nats://127.0.0.1:<port> of each node, by index; the same after a restart. */
  readonly clientUrls: readonly string[];
  /** nats-leaf://127.0.0.1:<port> of each node, by index. */
  readonly leafUrls: readonly string[];
  /** The node's current process (a new one after restart). */
  server(i: number): NatsServerProcess;
  /** Kills node i as a crash would (SIGKILL) and waits until it is gone. */
  kill(i: number): Promise<void>;
  /** Starts node i again on its ports and store, and waits until it answers JetStream requests. */
  restart(i: number): Promise<void>;
  /** http://127.0.0.1:<port> of each node's monitoring endpoint (/jsz, /varz, ...). */
  readonly monitorUrls: readonly string[];
  /**
   * Waits until the JetStream meta group has formed over the running nodes: all of them name the same
   * meta-leader, and the leader sees every other running node as current (so R3 placement succeeds).
   */
  waitForJetStream(timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

interface NodePorts {
  client: number;
  cluster: number;
  leaf: number;
  monitor: number;
}

const ATTEMPTS = 5;

/** `n` distinct ports the OS says are free right now (held together, so no duplicates, then released). */
async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(Array.from({ length: n }, () => new Promise<import('node:net').Server>((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => resolve(s));
  })));
  const ports = servers.map((s) => {
    const address = s.address();
    if (address === null || typeof address === 'string') throw new Error('no port');
    return address.port;
  });
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  return ports;
}

function isAddressInUse(err: unknown): boolean {
  return err instanceof Error && /address already in use|EADDRINUSE/i.test(err.message);
}

/**
 * Starts a cluster of nats-servers with JetStream, each node with its own store, and resolves once the
 * JetStream meta group has formed (a leader that sees every node current). Route ports must be known before any node starts, so they are picked free
 * first; a port taken in between (EADDRINUSE) makes the whole cluster start again on new ports.
 */
export async function launchCluster(options: ClusterOptions = {}): Promise<RunningCluster> {
  const size = options.size ?? 3;
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'halo-cluster-'));
  const owned = options.dir === undefined;
  const clusterName = `halo-${randomUUID().slice(0, 8)}`;
  const names = Array.from({ length: size }, (_, i) => `${clusterName}-n${i}`);
  for (let attempt = 1; ; attempt++) {
    const ports: NodePorts[] = [];
    const picked = await freePorts(size * 4);
    for (let i = 0; i < size; i++) ports.push({ client: picked[i * 4]!, cluster: picked[i * 4 + 1]!, leaf: picked[i * 4 + 2]!, monitor: picked[i * 4 + 3]! });
    const configs = ports.map((p, i) => renderNatsConfig('cluster.conf.tmpl', {
      serverName: names[i]!,
      clusterName,
      clientPort: p.client,
      clusterPort: p.cluster,
      leafPort: p.leaf,
      monitorPort: p.monitor,
      storeDir: join(dir, `n${i}`, 'jetstream'),
      routes: ports.filter((_, j) => j !== i).map((q) => JSON.stringify(`nats-route://127.0.0.1:${q.cluster}`)).join(', '),
    }));
    const make = (i: number) => new NatsServerProcess({ config: configs[i]!, dir: join(dir, `n${i}`), name: `n${i}`, readyTimeoutMs: 20_000, ...(options.log ? { log: options.log } : {}) });
    const servers = configs.map((_, i) => make(i));
    const started = await Promise.allSettled(servers.map((s) => s.start()));
    const failed = started.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) {
      await Promise.all(servers.map((s) => s.close()));
      // A node that did start has already written meta state naming the old ports' peers.
      for (let i = 0; i < size; i++) rmSync(join(dir, `n${i}`), { recursive: true, force: true });
      if (attempt < ATTEMPTS && isAddressInUse(failed.reason)) continue;
      if (owned) rmSync(dir, { recursive: true, force: true });
      throw failed.reason;
    }
    const clientUrls = ports.map((p) => `nats://127.0.0.1:${p.client}`);
    const monitorUrls = ports.map((p) => `http://127.0.0.1:${p.monitor}`);
    const down = new Set<number>();
    const check = (i: number) => {
      if (!Number.isInteger(i) || i < 0 || i >= size) throw new RangeError(`no node ${i} in a cluster of ${size}`);
    };
    const cluster: RunningCluster = {
      size,
      dir,
      clientUrls,
      leafUrls: ports.map((p) => `nats-leaf://127.0.0.1:${p.leaf}`),
      monitorUrls,
      server(i) {
        check(i);
        return servers[i]!;
      },
      async kill(i) {
        check(i);
        const server = servers[i]!;
        down.add(i);
        server.crash();
        // close() after the kill only waits for the exit (and disarms nothing else: the node is not supervised).
        await server.close();
      },
      async restart(i) {
        check(i);
        await servers[i]!.close();
        const server = make(i);
        servers[i] = server;
        await server.start();
        down.delete(i);
        await cluster.waitForJetStream();
      },
      async waitForJetStream(timeoutMs = options.readyTimeoutMs ?? 30_000) {
        const running = names.flatMap((name, i) => (down.has(i) ? [] : [{ name, monitorUrl: monitorUrls[i]! }]));
        await waitForMetaGroup(running, Date.now() + timeoutMs);
      },
      async close() {
        await Promise.all(servers.map((s) => s.close()));
        if (owned) rmSync(dir, { recursive: true, force: true });
      },
    };
    try {
      await cluster.waitForJetStream();
    } catch (err) {
      await cluster.close();
      throw err;
    }
    return cluster;
  }
}

interface MetaCluster {
  leader?: string;
  replicas?: Array<{ name: string; current: boolean }>;
}

/** The meta group as one node sees it (monitoring /jsz), or null while it does not answer. */
async function metaOf(monitorUrl: string): Promise<MetaCluster | null> {
  try {
    const res = await fetch(`${monitorUrl}/jsz`, { signal: AbortSignal.timeout(2_000) });
    if (!res.ok) return null;
    const body = (await res.json()) as { meta_cluster?: MetaCluster };
    return body.meta_cluster ?? null;
  } catch {
    return null;
  }
}

async function waitForMetaGroup(nodes: ReadonlyArray<{ name: string; monitorUrl: string }>, until: number): Promise<void> {
  let last = 'no answer';
  for (;;) {
    const metas = await Promise.all(nodes.map((n) => metaOf(n.monitorUrl)));
    const leaders = new Set(metas.map((m) => m?.leader ?? ''));
    const [leader] = leaders;
    if (leaders.size === 1 && leader) {
      const seen = metas[nodes.findIndex((n) => n.name === leader)]?.replicas ?? [];
      const behind = nodes.filter((n) => n.name !== leader && !seen.some((r) => r.name === n.name && r.current));
      if (nodes.some((n) => n.name === leader) && behind.length === 0) return;
      last = `leader ${leader}; not current: ${behind.map((n) => n.name).join(', ') || 'leader not running'}`;
    } else {
      last = `leaders seen: ${[...leaders].map((l) => l || 'none').join(', ')}`;
    }
    if (Date.now() > until) throw new Error(`JetStream meta group not formed in time (${last})`);
    await sleep(100);
  }
}
