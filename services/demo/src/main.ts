// `npm start`: the whole local system on one machine. Reads the environment and prints; runService handles the
// signals (a second Ctrl-C exits at once, and startDemo's exit hook kills every child); startDemo does the work.
import { join } from 'node:path';
import { z } from 'zod';
import { Port, loadConfig, projectRoot, runService } from '@halo/config';
import { NatsServerNotFoundError } from '@halo/nats-server';
import { DEFAULT_RESTART_POLICY, describeExit, startDemo, summaryLines, type RestartPolicy, type RunningDemo } from './index.ts';
import { terminalLog } from './terminal-log.ts';

const Config = z.object({
  HALO_DATA_DIR: z.string().min(1).default(join(projectRoot(), '.halo')),
  HALO_HTTP_PORT: Port.default(8080),
  HALO_LOG_LEVEL: z.enum(['info', 'debug', 'trace']).default('info'),
  /** A failed service is restarted after this delay, doubled per further restart up to the maximum. */
  HALO_RESTART_DELAY_MS: z.coerce.number().int().min(0).default(DEFAULT_RESTART_POLICY.delayMs),
  HALO_RESTART_MAX_DELAY_MS: z.coerce.number().int().min(0).default(DEFAULT_RESTART_POLICY.maxDelayMs),
  /** More restarts than this within the interval and the demo gives the service up and stops. */
  HALO_START_LIMIT_BURST: z.coerce.number().int().min(0).default(DEFAULT_RESTART_POLICY.burst),
  HALO_START_LIMIT_INTERVAL_MS: z.coerce.number().int().positive().default(DEFAULT_RESTART_POLICY.intervalMs),
});

const config = loadConfig(Config);
const restart: RestartPolicy = {
  delayMs: config.HALO_RESTART_DELAY_MS,
  maxDelayMs: config.HALO_RESTART_MAX_DELAY_MS,
  burst: config.HALO_START_LIMIT_BURST,
  intervalMs: config.HALO_START_LIMIT_INTERVAL_MS,
};
const { say, log } = terminalLog('demo');

await runService({
  log,
  async start(scope) {
    let demo: RunningDemo;
    try {
      demo = await startDemo({
        dataDir: config.HALO_DATA_DIR,
        httpPort: config.HALO_HTTP_PORT,
        logLevel: config.HALO_LOG_LEVEL,
        signal: scope.signal,
        progress: say,
        restart,
        onUnexpectedExit: (exit) => say(`WARNING: ${describeExit(exit, restart)}`),
      });
    } catch (err) {
      // startDemo has stopped what it started. A stop asked for while starting is no failure.
      if (scope.signal.aborted) return;
      process.stderr.write(`demo: ${err instanceof NatsServerNotFoundError ? '' : 'could not start: '}${err instanceof Error ? err.message : String(err)}\n`);
      process.exit(1);
    }
    scope.defer('services', () => demo.close());
    // The demo has stopped every service by then; the exit status tells whoever runs `npm start`.
    void demo.failed.then((exit) => {
      process.stderr.write(`demo: stopped: ${exit.name} kept failing; see ${exit.logFile}\n`);
      process.exit(1);
    });

    const lines = summaryLines(demo, config.HALO_DATA_DIR);
    process.stdout.write(`${lines.join('\n')}\n`);
  },
});
