import { z } from 'zod';
import { Guid } from './identifiers.ts';

/**
 * Webhooks (Halo's contract): one HTTPS URL per integrator per environment, set by support. An event is
 * published on the `WEBHOOKS` stream when an async query ends successful or a registered query's result hash
 * changes; the workers POST it, signed, to the integrator's URL, retrying with backoff.
 */
export const WEBHOOK_NAMES = {
  /** KV bucket: base64url(integratorId) -> WebhookConfig. */
  configs: 'webhooks',
  /** Work-queue stream of events, one subject per integrator. */
  stream: 'WEBHOOKS',
  /** Prefix of each integrator's durable consumer (one in-flight delivery per integrator keeps them in order). */
  consumerPrefix: 'webhook-',
  /** KV bucket: `<base64url integratorId>.<event id>` -> WebhookDelivery (metadata of the latest attempt; aged out). */
  deliveries: 'webhook-deliveries',
} as const;

export const WEBHOOK_HEADERS = {
  id: 'x-halo-id',
  timestamp: 'x-halo-timestamp',
  signature: 'x-halo-signature-256',
} as const;

export const WEBHOOK_LIMITS = {
  /** Each attempt's timeout. */
  attemptTimeoutMs: 5_000,
  /** Attempts before an event is dropped (and counted). */
  maxAttempts: 10,
  /** First retry delay; each next one doubles: 10 s .. 42 min, about 85 min over 10 attempts. */
  backoffMs: 10_000,
  /** How long an undelivered event may stay in the stream: longer than every attempt and backoff. */
  maxAgeMs: 6 * 60 * 60 * 1000,
  /** How long the record of a delivery is kept for the integrator portal. */
  deliveryRecordMaxAgeMs: 7 * 24 * 60 * 60 * 1000,
  /** Size bound of the delivery records bucket: the oldest go first beyond it. */
  deliveryRecordMaxBytes: 64 * 1024 * 1024,
} as const;

export const WebhookSource = z.enum(['async', 'registered']);
export type WebhookSource = z.infer<typeof WebhookSource>;

/** The body POSTed to the integrator (Halo's payload; no practice data). */
export const WebhookPayload = z.object({
  id: Guid,
  occurredAt: z.string(),
  siteId: Guid,
  queryId: Guid,
  webhookSource: WebhookSource,
});
export type WebhookPayload = z.infer<typeof WebhookPayload>;

/** The stream message: the payload and whom it is for. */
export const WebhookEvent = WebhookPayload.extend({ integratorId: z.string().min(1).max(128) });
export type WebhookEvent = z.infer<typeof WebhookEvent>;

/** KV `webhooks` value. The secret signs every delivery; only the PUT that set it ever shows it. */
export const WebhookConfig = z.object({
  url: z.string().url(),
  secret: z.string().min(32),
  updatedAt: z.string(),
  updatedBy: z.string(),
});
export type WebhookConfig = z.infer<typeof WebhookConfig>;

/** Body of `PUT /support/integrators/{integratorId}/webhook`. */
export const SupportWebhookBody = z.object({ url: z.string().min(1).max(2048) }).strict();
export type SupportWebhookBody = z.infer<typeof SupportWebhookBody>;

/** What `GET` answers (never the secret). */
export const SupportWebhookView = z.object({
  integratorId: z.string(),
  url: z.string(),
  updatedAt: z.string(),
  updatedBy: z.string(),
});
export type SupportWebhookView = z.infer<typeof SupportWebhookView>;

/** What `PUT` answers: the view and, this once, the signing secret. */
export const SupportWebhookSet = SupportWebhookView.extend({ secret: z.string() });
export type SupportWebhookSet = z.infer<typeof SupportWebhookSet>;

/**
 * What the worker records of an event's delivery, after each attempt (KV `webhook-deliveries`): metadata only,
 * never the body's secret, the signature or any practice data.
 */
export const WebhookDelivery = z.object({
  eventId: Guid,
  integratorId: z.string().min(1).max(128),
  webhookSource: WebhookSource,
  queryId: Guid,
  siteId: Guid,
  attempts: z.number().int().positive(),
  /** The last attempt's HTTP status, when one answered. */
  lastStatus: z.number().int().optional(),
  /** The last attempt's network error class (`ECONNREFUSED`, `timeout`, ...), when none answered. */
  lastError: z.string().max(64).optional(),
  state: z.enum(['delivered', 'retrying', 'dropped']),
  at: z.string(),
});
export type WebhookDelivery = z.infer<typeof WebhookDelivery>;
