import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import { SupportKeyRotatedRequest, SupportWebhookChangedRequest, subjects, type AuditEntry, type SupportKeyRotatedResult, type SupportWebhookChangedResult } from '@halo/contracts';
import { serveJson } from '@halo/messaging';
import type { Logger } from '@halo/log';
import type { AuditLog } from './audit.ts';

/**
 * `support.keyRotated`: the facade rotated an integrator's key slot from the support console (its KV holds only
 * hashes); the registry is the one writer of the audit stream, so the entry is appended here: who, which
 * integrator and slot, when. Never the key or its hash.
 */
export function serveKeyRotationAudit(nc: NatsConnection, options: { queue: string; log: Logger; audit: AuditLog; now: () => number }): Subscription {
  const { audit, log, now } = options;
  return serveJson(nc, {
    queue: options.queue, log, unexpected: 'registry_unavailable',
    subject: subjects.registry('support.keyRotated'),
    schema: SupportKeyRotatedRequest,
    handler: async (request: SupportKeyRotatedRequest): Promise<SupportKeyRotatedResult> => {
      const entry: AuditEntry = { action: 'integrator.key_rotated', at: new Date(now()).toISOString(), who: request.by, integratorId: request.integratorId, slot: request.slot };
      await audit.appendCredentials(entry, 'integrator', Buffer.from(request.integratorId, 'utf8').toString('hex'));
      log.info({ integratorId: request.integratorId, slot: request.slot, by: request.by }, 'integrator key rotation audited');
      return { audit: entry };
    },
  });
}

/**
 * `support.webhookChanged`: a facade set or removed an integrator's webhook (KV `webhooks`, from the support API or
 * the console); audited like key rotations: who, which integrator, the URL set. Never the signing secret.
 */
export function serveWebhookAudit(nc: NatsConnection, options: { queue: string; log: Logger; audit: AuditLog; now: () => number }): Subscription {
  const { audit, log, now } = options;
  return serveJson(nc, {
    queue: options.queue, log, unexpected: 'registry_unavailable',
    subject: subjects.registry('support.webhookChanged'),
    schema: SupportWebhookChangedRequest,
    handler: async (request: SupportWebhookChangedRequest): Promise<SupportWebhookChangedResult> => {
      const entry: AuditEntry = {
        action: request.change === 'set' ? 'integrator.webhook_set' : 'integrator.webhook_removed',
        at: new Date(now()).toISOString(), who: request.by, integratorId: request.integratorId,
        ...(request.change === 'set' && request.url ? { url: request.url } : {}),
      };
      await audit.appendCredentials(entry, 'integrator', Buffer.from(request.integratorId, 'utf8').toString('hex'));
      log.info({ integratorId: request.integratorId, change: request.change, by: request.by }, 'webhook change audited');
      return { audit: entry };
    },
  });
}
