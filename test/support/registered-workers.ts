import { createLogger, type Logger } from '@halo/log';
import { connectNats, type NatsConnection } from '@halo/messaging';
import { startRegisteredScheduler, startWebhookDelivery, type RegisteredSchedulerDeps, type WebhookDeliveryDeps } from '@halo/worker';
import type { RunningHub } from '@halo/testkit';

/** One parsed log line of a worker part. */
export type LogLine = Record<string, unknown> & { msg?: string };

/** A registered query scheduler or webhook deliverer on its own connection, with its log lines kept. */
export interface WorkerPart {
  readonly name: string;
  readonly lines: LogLine[];
  /** Graceful: running work is handed back. Crash: the connection is dropped first, nothing is acked. */
  stop(how: 'graceful' | 'crash'): Promise<void>;
}

function capture(name: string): { log: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const log = createLogger({ name, level: 'info', destination: { write: (line: string) => { lines.push(JSON.parse(line) as LogLine); } } });
  return { log, lines };
}

async function part(hub: RunningHub, name: string, start: (nc: NatsConnection, log: Logger) => Promise<{ close(): Promise<void> }>): Promise<WorkerPart> {
  const { log, lines } = capture(name);
  const nc = await connectNats({ servers: hub.clientUrl, name, log });
  const running = await start(nc, log);
  let stopped = false;
  return {
    name,
    lines,
    async stop(how) {
      if (stopped) return;
      stopped = true;
      if (how === 'crash') await nc.close();
      await running.close();
      if (!nc.isClosed()) await nc.close();
    },
  };
}

/** Starts a registered query scheduler with test-sized timers (ack wait 1.5 s, 1 s pulls). */
export function startScheduler(hub: RunningHub, name: string, options: Partial<Omit<RegisteredSchedulerDeps, 'nc' | 'log'>> = {}): Promise<WorkerPart> {
  return part(hub, name, (nc, log) => startRegisteredScheduler({ nc, log, ackWaitMs: 1_500, pullExpiresMs: 1_000, pullRetryMs: 200, ...options }));
}

/** Starts a webhook deliverer with test-sized timers (backoff from 200 ms, discovery every 200 ms). */
export function startDeliverer(hub: RunningHub, name: string, options: Partial<Omit<WebhookDeliveryDeps, 'nc' | 'log'>> = {}): Promise<WorkerPart> {
  return part(hub, name, (nc, log) => startWebhookDelivery({ nc, log, urlPolicy: { allowPrivate: true }, backoffMs: 200, discoverMs: 200, pullExpiresMs: 1_000, ...options }));
}

/** The ticks a scheduler recorded, in the order it recorded them. */
export function recordedTicks(parts: readonly WorkerPart[], registeredId: string): Array<{ tick: number; by: string; ok: boolean; changed: boolean; skipped: number }> {
  return parts.flatMap((p) => p.lines
    .filter((l) => l.msg === 'registered query tick recorded' && l.registeredId === registeredId)
    .map((l) => ({ tick: l.tick as number, by: p.name, ok: l.ok as boolean, changed: l.changed as boolean, skipped: l.skipped as number })));
}
