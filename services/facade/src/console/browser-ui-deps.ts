import type { NatsConnection } from '@nats-io/transport-node';
import type { WebhookDelivery } from '@halo/contracts';
import type { UsageStore } from '../usage/usage-store.ts';
import type { SessionSigner } from './session.ts';

/** An integrator as the console lists it: onboarded PMS types and which of its key slots hold a key. */
export interface ConsoleIntegrator {
  id: string;
  /** Undefined: every PMS type. */
  pmsTypes?: readonly string[];
  slots: readonly boolean[];
}

/** Integrators' key slots (RotatingKeys): listed, and rotated one slot at a time. */
export interface IntegratorSlots {
  list(): ConsoleIntegrator[];
  /** Mints a new key for slot (0-based) and returns it, once. */
  rotate(integratorId: string, slot: number, by: string): Promise<string>;
}

/** What the support console and the integrator portal need beyond the facade's own deps. */
export interface BrowserUiDeps {
  signer: SessionSigner;
  usage: UsageStore;
  integrators: IntegratorSlots;
  /** Live view (KV watch) and paired sites; without it pages show what they had when loaded. */
  nc?: NatsConnection;
  sessionTtlMs?: number;
  /** Heartbeat history for the 24-hour strips: which of the last 96 quarter-hours a link was heard from in. */
  history?: { strip(linkGuid: string): Promise<boolean[]> };
  /** Webhook deliveries the workers recorded (KV `webhook-deliveries`), newest first; without it the portal lists none. */
  deliveries?: { recent(integratorId: string, limit: number): Promise<WebhookDelivery[]> };
}
