import type { AsyncQueryRecord, RegisteredQueryRecord } from '@halo/contracts';
import { derivedEventId, publishWebhookEvent, type WebhookResources } from '@halo/async-queries';

/**
 * The webhook event of an async query that ended successful. Its id and body derive from the record only, so
 * publishing it again (a redelivered job) is the same message, which the stream's duplicate window drops.
 */
export async function asyncSuccessEvent(webhooks: Pick<WebhookResources, 'js' | 'configs'>, record: AsyncQueryRecord): Promise<boolean> {
  return publishWebhookEvent(webhooks, {
    id: derivedEventId('async', record.id),
    occurredAt: record.statusTiming.successful ?? new Date().toISOString(),
    siteId: record.siteId,
    queryId: record.id,
    webhookSource: 'async',
    integratorId: record.integratorId,
  });
}

/** The webhook event of a registered query whose result hash changed at tick `tick`. */
export async function registeredChangeEvent(webhooks: Pick<WebhookResources, 'js' | 'configs'>, record: RegisteredQueryRecord, tick: number): Promise<boolean> {
  return publishWebhookEvent(webhooks, {
    id: derivedEventId('registered', record.id, String(tick)),
    occurredAt: record.metrics.lastSucceededAt ?? new Date().toISOString(),
    siteId: record.siteId,
    queryId: record.id,
    webhookSource: 'registered',
    integratorId: record.integratorId,
  });
}
