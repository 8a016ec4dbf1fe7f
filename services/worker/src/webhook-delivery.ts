import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Consumer, JsMsg } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { WEBHOOK_HEADERS, WEBHOOK_LIMITS, WebhookEvent, type WebhookConfig, type WebhookDelivery } from '@halo/contracts';
import { decodeJson } from '@halo/messaging';
import type { Logger } from '@halo/log';
import { guardedLookup, openWebhookResources, signWebhook, webhookBody, WebhookDeliveries, type WebhookUrlPolicy } from '@halo/async-queries';
import { errName, sleep } from './pull.ts';

export interface WebhookDeliveryDeps {
  nc: NatsConnection;
  log: Logger;
  /** Whether webhook URLs may reach loopback, link-local or private addresses (and plain http): dev and tests only. */
  urlPolicy: WebhookUrlPolicy;
  /** Stream and bucket replicas when this process creates them. Default 1. */
  replicas?: number;
  /** First retry delay; it doubles with each attempt. Default WEBHOOK_LIMITS.backoffMs (10 s: about 85 min over 10 attempts). */
  backoffMs?: number;
  /** Attempts before an event is dropped. Default 10. */
  maxAttempts?: number;
  /** Each attempt's timeout. Default 5 s. */
  attemptTimeoutMs?: number;
  /** How often the list of integrators with a webhook is read again. Default 5 s. */
  discoverMs?: number;
  /** How long one pull waits (at least 1 s); a graceful stop waits for the pulls, then their attempts. Default 5 s. */
  pullExpiresMs?: number;
}

/** Plain counters of this process's webhook deliveries (for metrics; no labels, no data). */
export const webhookCounters = { delivered: 0, retried: 0, dropped: 0 };

/** What one attempt came to. */
type Attempt = { status: number } | { failure: string };

/**
 * Delivers webhook events: one pull loop per integrator with a webhook, on that integrator's durable consumer
 * (one delivery in flight per integrator, across every worker: events arrive in order). An attempt that fails
 * with a network error, timeout, 5xx, 408 or 429 is nak'd with exponential backoff (the delay and the delivery
 * count live in JetStream, so a restart loses nothing); after the last attempt, or on another 4xx, the event
 * is dropped and counted. Each attempt's outcome is recorded (KV `webhook-deliveries`, metadata only) for the portal.
 */
export async function startWebhookDelivery(deps: WebhookDeliveryDeps): Promise<{ close(): Promise<void> }> {
  const { nc, log, urlPolicy } = deps;
  const backoffMs = deps.backoffMs ?? WEBHOOK_LIMITS.backoffMs;
  const maxAttempts = deps.maxAttempts ?? WEBHOOK_LIMITS.maxAttempts;
  const attemptTimeoutMs = deps.attemptTimeoutMs ?? WEBHOOK_LIMITS.attemptTimeoutMs;
  const discoverMs = deps.discoverMs ?? 5_000;
  const pullExpiresMs = Math.max(1_000, deps.pullExpiresMs ?? 5_000);
  const { js, configs } = await openWebhookResources(nc, { replicas: deps.replicas ?? 1 });
  const deliveries = await WebhookDeliveries.open(nc, { replicas: deps.replicas ?? 1 });
  const lookup = guardedLookup(urlPolicy);
  const stop = new AbortController();
  const lanes = new Map<string, Promise<void>>();
  let closing = false;

  async function discover(): Promise<void> {
    try {
      for (const integratorId of await configs.integrators()) {
        if (lanes.has(integratorId)) continue;
        await configs.ensureConsumer(integratorId);
        const lane = runLane(integratorId, await configs.consumer(js, integratorId)).finally(() => lanes.delete(integratorId));
        lanes.set(integratorId, lane);
      }
    } catch (err) {
      if (!closing) log.warn({ err: errName(err) }, 'reading webhook integrators failed; retrying');
    }
  }

  const discovery = (async () => {
    while (!closing) {
      await discover();
      await sleep(discoverMs, stop.signal);
    }
  })();

  async function runLane(integratorId: string, consumer: Consumer): Promise<void> {
    while (!closing) {
      let msg: JsMsg | null;
      try {
        // Not abandoned at close: a pulled event is attempted, since handing it back would count as an attempt.
        msg = await consumer.next({ expires: pullExpiresMs });
      } catch (err) {
        // The consumer was deleted with the webhook: this lane ends (discovery starts another if one is set again).
        if (!closing) log.info({ integratorId, err: errName(err) }, 'webhook lane stopped');
        return;
      }
      if (msg) await deliver(integratorId, msg);
    }
  }

  async function deliver(integratorId: string, msg: JsMsg): Promise<void> {
    let event: WebhookEvent;
    try {
      event = decodeJson(WebhookEvent, msg.data);
    } catch {
      log.warn({ integratorId, seq: msg.seq }, 'malformed webhook event dropped');
      msg.term();
      return;
    }
    const attempt = msg.info.deliveryCount;
    const eventLog = log.child({ integratorId, webhookId: event.id, queryId: event.queryId, attempt });
    let config: WebhookConfig | null;
    try {
      config = await configs.get(integratorId);
    } catch (err) {
      eventLog.warn({ err: errName(err) }, 'reading the webhook config failed; retrying');
      msg.nak(backoffMs);
      return;
    }
    if (!config) {
      eventLog.info('webhook removed; event discarded');
      msg.ack();
      return;
    }
    const result = await post(config, event, attemptTimeoutMs, lookup);
    // The portal's view, written before the event is settled (so a quick next attempt's record is not overwritten by
    // this one); failing to write it never holds a delivery back.
    const record = (state: WebhookDelivery['state']) => deliveries.record({
      eventId: event.id, integratorId, webhookSource: event.webhookSource, queryId: event.queryId, siteId: event.siteId,
      attempts: attempt, ...('status' in result ? { lastStatus: result.status } : { lastError: result.failure.slice(0, 64) }), state, at: new Date().toISOString(),
    }).catch((err: unknown) => eventLog.warn({ err: errName(err) }, 'recording the webhook delivery failed'));
    if ('status' in result && result.status >= 200 && result.status < 300) {
      webhookCounters.delivered++;
      eventLog.info({ status: result.status }, 'webhook delivered');
      await record('delivered');
      msg.ack();
      return;
    }
    const retryable = 'failure' in result || result.status >= 500 || result.status === 408 || result.status === 429;
    const outcome = 'status' in result ? { status: result.status } : { failure: result.failure };
    if (retryable && attempt < maxAttempts) {
      const delayMs = backoffMs * 2 ** (attempt - 1);
      webhookCounters.retried++;
      eventLog.info({ ...outcome, delayMs }, 'webhook attempt failed; retrying');
      await record('retrying');
      msg.nak(delayMs);
      return;
    }
    webhookCounters.dropped++;
    eventLog.warn(outcome, 'webhook dropped');
    await record('dropped');
    msg.term();
  }

  return {
    async close() {
      if (closing) return;
      closing = true;
      stop.abort();
      await discovery;
      await Promise.allSettled([...lanes.values()]);
      log.info('webhook delivery stopped');
    },
  };
}

/** The integrator's URL with Halo's template variables `{siteId}`, `{queryId}` and `{source}` filled in. */
export function webhookUrl(template: string, event: WebhookEvent): URL {
  return new URL(template
    .replaceAll('{siteId}', event.siteId)
    .replaceAll('{queryId}', event.queryId)
    .replaceAll('{source}', event.webhookSource));
}

/**
 * One signed POST. Node's http(s) client rather than fetch: its `lookup` hook refuses private addresses at
 * connect time (fetch has no such hook without a dependency), and the timeout covers the whole attempt.
 */
function post(config: WebhookConfig, event: WebhookEvent, timeoutMs: number, lookup: ReturnType<typeof guardedLookup>): Promise<Attempt> {
  const body = webhookBody(event);
  const timestamp = new Date().toISOString();
  const url = webhookUrl(config.url, event);
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise<Attempt>((resolve) => {
    const req = send(url, {
      method: 'POST',
      lookup,
      signal: AbortSignal.timeout(timeoutMs),
      headers: {
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(body),
        [WEBHOOK_HEADERS.id]: event.id,
        [WEBHOOK_HEADERS.timestamp]: timestamp,
        [WEBHOOK_HEADERS.signature]: signWebhook(config.secret, body, timestamp),
        'user-agent': 'halo-webhooks',
      },
    }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0 }));
      res.on('error', () => resolve({ status: res.statusCode ?? 0 }));
    });
    req.on('error', (err: NodeJS.ErrnoException) => resolve({ failure: err.name === 'AbortError' ? 'timeout' : (err.code ?? err.name) }));
    req.end(body);
  });
}
