export { startWorker, type RunningWorker, type WorkerDeps } from './worker.ts';
export { nextTick, registeredCounters, startRegisteredScheduler, type RegisteredSchedulerDeps } from './registered-scheduler.ts';
export { startWebhookDelivery, webhookCounters, webhookUrl, type WebhookDeliveryDeps } from './webhook-delivery.ts';
export { recordDeliveryMetrics } from './worker-metrics.ts';
