import { DeliverPolicy, jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import { WEBHOOK_LIMITS, WEBHOOK_NAMES, WebhookDelivery } from '@halo/contracts';
import { openBucket } from '@halo/messaging';
import { integratorToken } from './webhooks.ts';

/** Most records one read scans (the bucket ages them out; an integrator rarely has more within the TTL). */
const MAX_SCAN = 5_000;

/**
 * KV `webhook-deliveries`: the worker writes one entry per event (overwritten after each attempt, so it holds the
 * latest state), the portal reads an integrator's on any facade replica. Entries age out with the bucket's TTL.
 */
export class WebhookDeliveries {
  readonly #kv: KV;
  readonly #js: JetStreamClient;
  readonly #jsm: JetStreamManager;

  private constructor(kv: KV, js: JetStreamClient, jsm: JetStreamManager) {
    this.#kv = kv;
    this.#js = js;
    this.#jsm = jsm;
  }

  /** Creates the bucket if missing (idempotent across workers and facades) and opens it. */
  static async open(nc: NatsConnection, options: { replicas: number }): Promise<WebhookDeliveries> {
    const kv = await openBucket(nc, WEBHOOK_NAMES.deliveries, {
      history: 1, ttl: WEBHOOK_LIMITS.deliveryRecordMaxAgeMs, max_bytes: WEBHOOK_LIMITS.deliveryRecordMaxBytes, replicas: options.replicas,
    });
    return new WebhookDeliveries(kv, jetstream(nc), await jetstreamManager(nc));
  }

  async record(delivery: WebhookDelivery): Promise<void> {
    await this.#kv.put(`${integratorToken(delivery.integratorId)}.${delivery.eventId}`, JSON.stringify(WebhookDelivery.parse(delivery)));
  }

  /** The integrator's latest `limit` deliveries, newest first. */
  async recent(integratorId: string, limit: number): Promise<WebhookDelivery[]> {
    const stream = `KV_${WEBHOOK_NAMES.deliveries}`;
    const subject = `$KV.${WEBHOOK_NAMES.deliveries}.${integratorToken(integratorId)}.>`;
    // Counting first (one subject per event, history 1): a fetch for messages that do not exist waits out its expiry.
    const info = await this.#jsm.streams.info(stream, { subjects_filter: subject });
    const total = Math.min(Object.keys(info.state.subjects ?? {}).length, MAX_SCAN);
    const out: WebhookDelivery[] = [];
    if (total === 0) return out;
    const consumer = await this.#js.consumers.get(stream, { filter_subjects: [subject], deliver_policy: DeliverPolicy.LastPerSubject });
    try {
      for await (const m of await consumer.fetch({ max_messages: total, expires: 2000 })) {
        // A deleted key leaves a marker with no body.
        const parsed = m.data.length > 0 ? WebhookDelivery.safeParse(m.json()) : undefined;
        if (parsed?.success) out.push(parsed.data);
        if (m.info.pending === 0) break;
      }
    } finally {
      await consumer.delete().catch(() => undefined);
    }
    return out.sort((a, b) => b.at.localeCompare(a.at)).slice(0, limit);
  }
}
