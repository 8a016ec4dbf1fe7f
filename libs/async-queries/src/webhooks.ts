import { createHash, createHmac } from 'node:crypto';
import {
  AckPolicy, DeliverPolicy, DiscardPolicy, RetentionPolicy, StorageType, jetstream, jetstreamManager,
  type Consumer, type JetStreamClient, type JetStreamManager,
} from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';
import { nanos, type NatsConnection } from '@nats-io/transport-node';
import {
  AppError, WEBHOOK_LIMITS, WEBHOOK_NAMES, WebhookConfig, registeredSubjects, type WebhookEvent, type WebhookPayload,
} from '@halo/contracts';
import { openBucket } from '@halo/messaging';
import { isNotFound } from './registered.ts';

/** An event is published again (same msgID) only by a redelivered job or tick, within its ack_wait. */
const EVENT_DUPLICATE_WINDOW_MS = 10 * 60_000;
/** A delivery attempt takes at most 5 s; a worker gone mid-attempt hands the event on after this. */
const DELIVERY_ACK_WAIT_MS = 30_000;

/** base64url of an integrator id: a safe KV key, subject token and consumer name. */
export function integratorToken(integratorId: string): string {
  return Buffer.from(integratorId, 'utf8').toString('base64url');
}

/** The JetStream resources of webhooks: the event stream, the config bucket, and the clients. */
export interface WebhookResources {
  js: JetStreamClient;
  jsm: JetStreamManager;
  configs: WebhookConfigs;
}

/** Creates (if missing) and opens the `WEBHOOKS` stream and KV `webhooks`; facades and workers call it alike. */
export async function openWebhookResources(nc: NatsConnection, options: { replicas: number }): Promise<WebhookResources> {
  const jsm = await jetstreamManager(nc);
  try {
    await jsm.streams.info(WEBHOOK_NAMES.stream);
  } catch (err) {
    if (!isNotFound(err)) throw err;
    try {
      await jsm.streams.add({
        name: WEBHOOK_NAMES.stream,
        subjects: [registeredSubjects.webhookAll()],
        retention: RetentionPolicy.Workqueue,
        storage: StorageType.File,
        discard: DiscardPolicy.Old,
        num_replicas: options.replicas,
        max_age: nanos(WEBHOOK_LIMITS.maxAgeMs),
        // msgID = event id (derived from what caused it): a re-published event is stored once.
        duplicate_window: nanos(EVENT_DUPLICATE_WINDOW_MS),
      });
    } catch (addErr) {
      await jsm.streams.info(WEBHOOK_NAMES.stream).catch(() => {
        throw addErr;
      });
    }
  }
  const kv = await openBucket(nc, WEBHOOK_NAMES.configs, { replicas: options.replicas, history: 1 });
  return { js: jetstream(nc), jsm, configs: new WebhookConfigs(kv, jsm) };
}

/**
 * KV `webhooks`, one entry per integrator (the environment is the NATS account, so one URL per integrator per
 * environment), and each integrator's durable consumer. The consumer allows one delivery in flight
 * (`max_ack_pending` 1): a retry waiting its backoff holds that integrator's later events back, so they arrive in
 * order, while other integrators' events flow.
 */
export class WebhookConfigs {
  readonly #kv: KV;
  readonly #jsm: JetStreamManager;

  constructor(kv: KV, jsm: JetStreamManager) {
    this.#kv = kv;
    this.#jsm = jsm;
  }

  async get(integratorId: string): Promise<WebhookConfig | null> {
    const entry = await this.#kv.get(integratorToken(integratorId));
    if (!entry || entry.operation !== 'PUT') return null;
    const parsed = WebhookConfig.safeParse(entry.json());
    if (!parsed.success) throw new AppError('internal', 'corrupt webhook config', { cause: parsed.error });
    return parsed.data;
  }

  /** Sets the integrator's URL and secret, and makes sure its consumer exists (events wait there from now on). */
  async set(integratorId: string, config: WebhookConfig): Promise<void> {
    await this.ensureConsumer(integratorId);
    await this.#kv.put(integratorToken(integratorId), JSON.stringify(WebhookConfig.parse(config)));
  }

  /** Removes the URL, the consumer and the events still waiting; false when there was none. */
  async delete(integratorId: string): Promise<boolean> {
    const existed = (await this.get(integratorId)) !== null;
    await this.#kv.delete(integratorToken(integratorId));
    const token = integratorToken(integratorId);
    await this.#jsm.consumers.delete(WEBHOOK_NAMES.stream, consumerName(token)).catch((err: unknown) => {
      if (!isNotFound(err)) throw err;
    });
    await this.#jsm.streams.purge(WEBHOOK_NAMES.stream, { filter: registeredSubjects.webhook(token) });
    return existed;
  }

  /** The integrator ids that have a webhook. */
  async integrators(): Promise<string[]> {
    const out: string[] = [];
    for await (const key of await this.#kv.keys()) out.push(Buffer.from(key, 'base64url').toString('utf8'));
    return out;
  }

  /** The integrator's durable consumer, created if missing. */
  async ensureConsumer(integratorId: string): Promise<string> {
    const token = integratorToken(integratorId);
    const name = consumerName(token);
    try {
      await this.#jsm.consumers.info(WEBHOOK_NAMES.stream, name);
    } catch (err) {
      if (!isNotFound(err)) throw err;
      try {
        await this.#jsm.consumers.add(WEBHOOK_NAMES.stream, {
          durable_name: name,
          ack_policy: AckPolicy.Explicit,
          deliver_policy: DeliverPolicy.All,
          ack_wait: nanos(DELIVERY_ACK_WAIT_MS),
          max_ack_pending: 1,
          // Attempts are counted by the deliverer (the delivery count), which drops an event after the last.
          max_deliver: -1,
          filter_subject: registeredSubjects.webhook(token),
        });
      } catch (addErr) {
        await this.#jsm.consumers.info(WEBHOOK_NAMES.stream, name).catch(() => {
          throw addErr;
        });
      }
    }
    return name;
  }

  /** The integrator's consumer for a deliverer to pull from. */
  consumer(js: JetStreamClient, integratorId: string): Promise<Consumer> {
    return js.consumers.get(WEBHOOK_NAMES.stream, consumerName(integratorToken(integratorId)));
  }
}

function consumerName(token: string): string {
  return `${WEBHOOK_NAMES.consumerPrefix}${token}`;
}

/**
 * Publishes a webhook event if the integrator has a webhook (false when it has none). The msgID is the event
 * id, derived from what caused it, so the caller may publish it again after a crash without a second delivery.
 */
export async function publishWebhookEvent(resources: Pick<WebhookResources, 'js' | 'configs'>, event: WebhookEvent): Promise<boolean> {
  if (!(await resources.configs.get(event.integratorId))) return false;
  await resources.js.publish(registeredSubjects.webhook(integratorToken(event.integratorId)), JSON.stringify(event), { msgID: event.id });
  return true;
}

/** A UUID derived from `parts` (SHA-256, RFC 9562 version 8): the same cause always gives the same event id. */
export function derivedEventId(...parts: string[]): string {
  const bytes = createHash('sha256').update(parts.join('\n')).digest().subarray(0, 16);
  bytes[6] = (bytes[6]! & 0x0f) | 0x80;
  bytes[8] = (bytes[8]! & 0x3f) | 0x80;
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** `X-Halo-Signature-256`: lowercase hex HMAC-SHA256 with the secret over `body + "." + timestamp`. */
export function signWebhook(secret: string, body: string, timestamp: string): string {
  return createHmac('sha256', secret).update(`${body}.${timestamp}`).digest('hex');
}

/** The body POSTed for an event: Halo's payload, fields in Halo's order. */
export function webhookBody(event: WebhookEvent): string {
  const payload: WebhookPayload = { id: event.id, occurredAt: event.occurredAt, siteId: event.siteId, queryId: event.queryId, webhookSource: event.webhookSource };
  return JSON.stringify(payload);
}
