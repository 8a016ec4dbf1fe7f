import { readFileSync } from 'node:fs';
import { connect, credsAuthenticator, type NatsConnection } from '@nats-io/transport-node';
import type { Logger } from '@halo/log';

export type { NatsConnection, Msg, Subscription } from '@nats-io/transport-node';

export interface ConnectOptions {
  servers: string | string[];
  /** Connection name shown by the server's monitoring. */
  name: string;
  log: Logger;
  /** Whole-token inbox prefix (agents: `_INBOX.<linkGuid>`). */
  inboxPrefix?: string;
  user?: string;
  pass?: string;
  /** A `.creds` file (operator/JWT mode: user JWT + nkey seed); re-read at every reconnect. */
  credsFile?: string;
  /** PEM CA file that signed the server's certificate, when the server requires TLS. */
  caFile?: string;
}

/**
 * Connects with unlimited reconnects: a service outlives any server restart. The first connect also waits
 * and retries, so services may start before their server.
 */
export async function connectNats(options: ConnectOptions): Promise<NatsConnection> {
  const nc = await connect({
    servers: options.servers,
    name: options.name,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 250,
    reconnectJitter: 100,
    waitOnFirstConnect: true,
    pingInterval: 10_000,
    ...(options.inboxPrefix ? { inboxPrefix: options.inboxPrefix } : {}),
    ...(options.user ? { user: options.user, pass: options.pass } : {}),
    ...(options.credsFile ? { authenticator: credsAuthenticator(() => readFileSync(options.credsFile!)) } : {}),
    ...(options.caFile ? { tls: { caFile: options.caFile } } : {}),
  });
  const log = options.log;
  void (async () => {
    for await (const s of nc.status()) {
      if (s.type === 'disconnect' || s.type === 'reconnect') log.info({ nats: s.type, server: s.server }, 'nats connection');
      else if (s.type === 'error') log.warn({ nats: s.type }, 'nats connection error');
    }
  })().catch(() => undefined);
  log.info({ server: nc.getServer() }, 'nats connected');
  return nc;
}
