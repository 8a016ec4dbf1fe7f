import type { NatsConnection } from '@nats-io/transport-node';
import { groupKeys, type SubscriptionKey } from '../auth/subscription-keys.ts';
import type { IntegratorKeys } from '../auth/integrators-file.ts';
import { NatsUsageStore } from '../usage/usage-store.ts';
import type { BrowserUiDeps } from './browser-ui-deps.ts';
import { SessionSigner } from './session.ts';
import { AvailabilityHistory } from './availability-history.ts';

/**
 * Opens what the console and portal keep in JetStream (session secret, usage, heartbeat history) and lists the
 * integrators; `close` stops the history's watch.
 */
export async function openBrowserUis(nc: NatsConnection, keys: readonly SubscriptionKey[], integrators: readonly IntegratorKeys[], replicas?: number): Promise<{ ui: BrowserUiDeps; close(): Promise<void> }> {
  const signer = await SessionSigner.open(nc, replicas);
  const usage = await NatsUsageStore.open(nc, replicas);
  const history = await AvailabilityHistory.open(nc, replicas !== undefined ? { replicas } : {});
  const list = [...groupKeys(keys), ...integrators].map((i) => ({ id: i.id, keysInUse: i.keyHashes.length, ...(i.pmsTypes ? { pmsTypes: i.pmsTypes } : {}) }));
  return { ui: { signer, usage, nc, history, integrators: () => list }, close: () => history.close() };
}
