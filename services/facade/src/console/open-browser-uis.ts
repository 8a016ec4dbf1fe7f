import type { NatsConnection } from '@nats-io/transport-node';
import type { FastifyBaseLogger } from 'fastify';
import { groupKeys, type SubscriptionKey } from '../auth/subscription-keys.ts';
import type { IntegratorKeys } from '../auth/integrators-file.ts';
import { RotatingKeys } from '../auth/rotated-keys.ts';
import type { Authenticator } from '../deps.ts';
import { WebhookDeliveries } from '@halo/async-queries';
import { NatsUsageStore } from '../usage/usage-store.ts';
import type { BrowserUiDeps } from './browser-ui-deps.ts';
import { SessionSigner } from './session.ts';
import { AvailabilityHistory } from './availability-history.ts';

/**
 * Opens what the console and portal keep in JetStream (session secret, usage, heartbeat history, rotated key
 * slots, webhook delivery records). `auth` is the integrators' authenticator with rotations applied (the facade uses it for every
 * `/integrator` request); `close` stops the watches.
 */
export async function openBrowserUis(nc: NatsConnection, keys: readonly SubscriptionKey[], integrators: readonly IntegratorKeys[], replicas: number | undefined, log: FastifyBaseLogger): Promise<{ ui: BrowserUiDeps; auth: Authenticator; close(): Promise<void> }> {
  const signer = await SessionSigner.open(nc, replicas);
  const usage = await NatsUsageStore.open(nc, replicas);
  const deliveries = await WebhookDeliveries.open(nc, { replicas: replicas ?? 1 });
  const history = await AvailabilityHistory.open(nc, { log, ...(replicas !== undefined ? { replicas } : {}) });
  const rotating = new RotatingKeys([...groupKeys(keys), ...integrators]);
  await rotating.open(nc, replicas);
  const close = async () => {
    usage.flush();
    rotating.close();
    await history.close();
  };
  return { ui: { signer, usage, nc, history, deliveries, integrators: rotating }, auth: rotating, close };
}
