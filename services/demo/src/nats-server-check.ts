import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { findNatsServer } from '@halo/nats-server';
import { projectRoot } from '@halo/config';

/**
 * The nats-server binary, running the project's installer once when none is found. Throws the finder's
 * NatsServerNotFoundError (whose message says what to do) when there is still none.
 */
export function ensureNatsServer(options: { install: boolean; progress?: (message: string) => void }): string {
  try {
    return findNatsServer();
  } catch (err) {
    if (!options.install) throw err;
    options.progress?.('no suitable nats-server found; running deploy/install/nats-server.ts once');
    spawnSync(process.execPath, [join(projectRoot(), 'deploy', 'install', 'nats-server.ts')], { stdio: ['ignore', 'inherit', 'inherit'], cwd: projectRoot() });
    return findNatsServer();
  }
}
