import { z } from 'zod';
import { Environment } from '@halo/contracts';
import { List, loadConfig } from '@halo/config';
import { createLogger } from '@halo/log';
import { connectNats } from '@halo/messaging';
import { startRegistry } from './registry.ts';

const config = loadConfig(z.object({
  HALO_NATS_URL: List,
  HALO_ENV: Environment.default('production'),
  HALO_KV_REPLICAS: z.coerce.number().int().min(1).max(5).default(1),
  /** Availability thresholds (ARCHITECTURE §5): online within 30 s, unreachable after 2 min; drift flag over 60 s. */
  HALO_ONLINE_WITHIN_MS: z.coerce.number().int().positive().default(30_000),
  HALO_UNREACHABLE_AFTER_MS: z.coerce.number().int().positive().default(120_000),
  HALO_MAX_CLOCK_DRIFT_MS: z.coerce.number().int().positive().default(60_000),
  HALO_LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
}));
const log = createLogger({ name: 'registry', level: config.HALO_LOG_LEVEL });
const nc = await connectNats({ servers: config.HALO_NATS_URL, name: 'halo-registry', log });
const registry = await startRegistry({
  nc, log, env: config.HALO_ENV, replicas: config.HALO_KV_REPLICAS,
  thresholds: { onlineWithinMs: config.HALO_ONLINE_WITHIN_MS, unreachableAfterMs: config.HALO_UNREACHABLE_AFTER_MS, maxClockDriftMs: config.HALO_MAX_CLOCK_DRIFT_MS },
});

let stopping = false;
async function stop(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  log.info({ signal }, 'stopping');
  await registry.close();
  await nc.drain();
  process.exit(0);
}
process.on('SIGINT', () => void stop('SIGINT'));
process.on('SIGTERM', () => void stop('SIGTERM'));
