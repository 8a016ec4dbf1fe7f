import { z } from 'zod';
import { LogLevel, loadConfig, runService } from '@halo/config';
import { createLogger } from '@halo/log';
import { startAgent } from './agent.ts';
import { loadAgentConfig } from './config.ts';
import { fingerprintFromFile } from './fingerprint.ts';

const env = loadConfig(z.object({
  HALO_AGENT_CONFIG: z.string().min(1),
  /** Test hook: read the machine fingerprint from this JSON file instead of the OS (simulates a move). */
  HALO_FINGERPRINT_FILE: z.string().min(1).optional(),
  HALO_LOG_LEVEL: LogLevel.default('info'),
}));
const log = createLogger({ name: 'agent', level: env.HALO_LOG_LEVEL });
const config = loadAgentConfig(env.HALO_AGENT_CONFIG);
const fingerprint = env.HALO_FINGERPRINT_FILE ? { fingerprintSource: fingerprintFromFile(env.HALO_FINGERPRINT_FILE) } : {};

if (process.argv.includes('--uninstall')) {
  // Run by the uninstaller before it removes the service: the registry marks this link's sites uninstalled
  // (authority stays where it is), then the agent stops.
  const agent = await startAgent({ config, log, ...fingerprint });
  await agent.uninstall();
  process.exit(0);
} else {
  await runService({
    name: 'agent',
    log,
    async start(scope) {
      const agent = await startAgent({ config, log, ...fingerprint });
      scope.defer('agent', () => agent.close());
    },
  });
}
