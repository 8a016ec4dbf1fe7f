// Public entry of @halo/async-queries: what facades and workers both know about async queries in JetStream.
export { openAsyncResources, openWorkConsumer, type AsyncResources, type AsyncResourcesOptions } from './resources.ts';
export { AsyncRecords, isRevisionConflict, withState, type StoredRecord } from './records.ts';
export {
  openRegisteredResources, openTickConsumer, publishTick, RegisteredRecords, RegisteredResults,
  type RegisteredResources, type StoredRegistered,
} from './registered.ts';
export {
  derivedEventId, integratorToken, openWebhookResources, publishWebhookEvent, signWebhook, webhookBody, WebhookConfigs,
  type WebhookResources,
} from './webhooks.ts';
export { WebhookDeliveries } from './webhook-deliveries.ts';
export { checkWebhookUrl, guardedLookup, isRefusedAddress, type WebhookUrlPolicy } from './webhook-url.ts';
