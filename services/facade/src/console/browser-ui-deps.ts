import type { NatsConnection } from '@nats-io/transport-node';
import type { UsageStore } from '../usage/usage-store.ts';
import type { SessionSigner } from './session.ts';

/** An integrator as the console lists it: onboarded PMS types and how many of its key slots hold a key. */
export interface ConsoleIntegrator {
  id: string;
  /** Undefined: every PMS type. */
  pmsTypes?: readonly string[];
  keysInUse: number;
}

/** What the support console and the integrator portal need beyond the facade's own deps. */
export interface BrowserUiDeps {
  signer: SessionSigner;
  usage: UsageStore;
  integrators: () => readonly ConsoleIntegrator[];
  /** Live view (KV watch) and paired sites; without it pages show what they had when loaded. */
  nc?: NatsConnection;
  sessionTtlMs?: number;
  /** Heartbeat history for the 24-hour strips: which of the last 96 quarter-hours a link was heard from in. */
  history?: { strip(linkGuid: string): Promise<boolean[]> };
}
