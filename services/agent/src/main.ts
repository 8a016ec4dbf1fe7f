import { z } from 'zod';
import { LogLevel, loadConfig } from '@halo/config';
import { runAgent } from './run-agent.ts';

const env = loadConfig(z.object({
  HALO_AGENT_CONFIG: z.string().min(1),
  /** Test hook: read the machine fingerprint from this JSON file instead of the OS (simulates a move). */
  HALO_FINGERPRINT_FILE: z.string().min(1).optional(),
  HALO_LOG_LEVEL: LogLevel.default('info'),
}));

const uninstall = process.argv.includes('--uninstall');
await runAgent({ configFile: env.HALO_AGENT_CONFIG, logLevel: env.HALO_LOG_LEVEL, fingerprintFile: env.HALO_FINGERPRINT_FILE, uninstall });
if (uninstall) process.exit(0);
