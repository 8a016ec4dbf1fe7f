// `npm run cluster`: the production topology on one machine (startCluster). Reads the environment and prints;
// runService handles the signals (a second Ctrl-C exits at once, and the exit hook kills every child).
import { join } from 'node:path';
import { z } from 'zod';
import { Port, loadConfig, projectRoot, runService } from '@halo/config';
import { NatsServerNotFoundError } from '@halo/nats-server';
import { describeExit, DEFAULT_RESTART_POLICY, summaryLines } from './index.ts';
import { startCluster, type RunningCluster } from './start-cluster.ts';
import { terminalLog } from './terminal-log.ts';

const config = loadConfig(z.object({
  HALO_DATA_DIR: z.string().min(1).default(join(projectRoot(), '.halo-cluster')),
  HALO_HTTP_PORT: Port.default(8443),
  HALO_LOG_LEVEL: z.enum(['info', 'debug', 'trace']).default('info'),
  /** Worker HALO_ACK_WAIT_MS: how soon a dead worker's async queries go to the other worker. */
  HALO_ACK_WAIT_MS: z.coerce.number().int().min(1_000).optional(),
}));
const { say, log } = terminalLog('cluster');

await runService({
  log,
  async start(scope) {
    let cluster: RunningCluster;
    try {
      cluster = await startCluster({
        dataDir: config.HALO_DATA_DIR,
        httpPort: config.HALO_HTTP_PORT,
        logLevel: config.HALO_LOG_LEVEL,
        signal: scope.signal,
        progress: say,
        ...(config.HALO_ACK_WAIT_MS !== undefined ? { workerAckWaitMs: config.HALO_ACK_WAIT_MS } : {}),
        onUnexpectedExit: (exit) => say(`WARNING: ${describeExit(exit, DEFAULT_RESTART_POLICY)}`),
      });
    } catch (err) {
      if (scope.signal.aborted) return;
      process.stderr.write(`cluster: ${err instanceof NatsServerNotFoundError ? '' : 'could not start: '}${err instanceof Error ? err.message : String(err)}\n`);
      process.exit(1);
    }
    scope.defer('processes', () => cluster.close());
    const lines = summaryLines(cluster, config.HALO_DATA_DIR);
    lines.splice(lines.length - 2, 0, `Every process (role, name, pid, ports) is in ${cluster.clusterFile}.`);
    process.stdout.write(`${lines.join('\n')}\n`);
    // The line tests and scripts wait for (after the summary).
    log.info({ clusterFile: cluster.clusterFile, facadeUrl: cluster.facadeUrl }, 'cluster ready');
  },
});
