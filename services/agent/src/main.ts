import { z } from 'zod';
import { loadConfig } from '@halo/config';
import { createLogger } from '@halo/log';
import { startAgent } from './agent.ts';
import { loadAgentConfig } from './config.ts';
import { fingerprintFromFile } from './fingerprint.ts';

const env = loadConfig(z.object({
  HALO_AGENT_CONFIG: z.string().min(1),
  /** Test hook: read the machine fingerprint from this JSON file instead of the OS (simulates a move). */
  HALO_FINGERPRINT_FILE: z.string().min(1).optional(),
  HALO_LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
}));
const log = createLogger({ name: 'agent', level: env.HALO_LOG_LEVEL });
const agent = await startAgent({
  config: loadAgentConfig(env.HALO_AGENT_CONFIG),
  log,
  ...(env.HALO_FINGERPRINT_FILE ? { fingerprintSource: fingerprintFromFile(env.HALO_FINGERPRINT_FILE) } : {}),
});

// `--uninstall`: run by the uninstaller before it removes the service. The registry marks this link's sites
// uninstalled (authority stays where it is), then the agent stops.
if (process.argv.includes('--uninstall')) {
  await agent.uninstall();
  process.exit(0);
}

let stopping = false;
async function stop(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  log.info({ signal }, 'stopping');
  await agent.close();
  process.exit(0);
}
process.on('SIGINT', () => void stop('SIGINT'));
process.on('SIGTERM', () => void stop('SIGTERM'));
