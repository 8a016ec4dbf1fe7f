import { z } from 'zod';
import { ASYNC_LIMITS } from '@halo/contracts';
import { List, Port, loadConfig } from '@halo/config';
import { createLogger } from '@halo/log';
import { connectNats } from '@halo/messaging';
import { parseSubscriptionKeys } from './auth.ts';
import { parseSupportKeys } from './support-auth.ts';
import { startFacade } from './start.ts';

/** The facade's environment; this file is the only reader of it. */
const Config = z.object({
  HALO_NATS_URL: z.string().min(1),
  HALO_HTTP_PORT: Port.default(8080),
  HALO_HTTP_HOST: z.string().min(1).default('127.0.0.1'),
  HALO_SUBSCRIPTION_KEYS: List.default([]),
  /** `supportUserId:key,...` for `/support/*`; separate from integrator keys. */
  HALO_SUPPORT_KEYS: List.default([]),
  HALO_LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  HALO_QUERY_TIMEOUT_MS: z.coerce.number().int().positive().default(30_000),
  HALO_RESULT_TTL_MS: z.coerce.number().int().positive().default(ASYNC_LIMITS.defaultResultTtlMs),
  HALO_JS_REPLICAS: z.coerce.number().int().min(1).max(5).default(1),
});

const config = loadConfig(Config);
const log = createLogger({ name: 'facade', level: config.HALO_LOG_LEVEL });
const keys = parseSubscriptionKeys(config.HALO_SUBSCRIPTION_KEYS);
if (keys.length === 0) log.warn('HALO_SUBSCRIPTION_KEYS is empty: every /integrator request will answer 401');
const supportKeys = parseSupportKeys(config.HALO_SUPPORT_KEYS);

const nc = await connectNats({ servers: config.HALO_NATS_URL.split(','), name: 'halo-facade', log });
const facade = await startFacade({
  nc,
  port: config.HALO_HTTP_PORT,
  host: config.HALO_HTTP_HOST,
  keys,
  supportKeys,
  log,
  queryTimeoutMs: config.HALO_QUERY_TIMEOUT_MS,
  async: { replicas: config.HALO_JS_REPLICAS, resultTtlMs: config.HALO_RESULT_TTL_MS },
});

let stopping = false;
async function stop(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  log.info({ signal }, 'facade stopping');
  // Reverse order of start: stop taking HTTP requests, let in-flight ones finish, then drain NATS.
  try {
    await facade.close();
    await nc.drain();
  } catch (err) {
    log.error({ err }, 'shutdown failed');
    process.exitCode = 1;
  }
  log.info('facade stopped');
}
process.once('SIGINT', () => void stop('SIGINT'));
process.once('SIGTERM', () => void stop('SIGTERM'));
