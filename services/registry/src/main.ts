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
  HALO_LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
}));
const log = createLogger({ name: 'registry', level: config.HALO_LOG_LEVEL });
const nc = await connectNats({ servers: config.HALO_NATS_URL, name: 'halo-registry', log });
const registry = await startRegistry({ nc, log, env: config.HALO_ENV, replicas: config.HALO_KV_REPLICAS });

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
