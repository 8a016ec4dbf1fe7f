import { randomBytes } from 'node:crypto';
import { checkWebhookUrl, openWebhookResources, type WebhookConfigs, type WebhookUrlPolicy } from '@halo/async-queries';
import { type SupportWebhookSet, type SupportWebhookView, type WebhookConfig } from '@halo/contracts';
import type { NatsConnection } from '@halo/messaging';
import type { WebhookAdmin } from '../registered-deps.ts';
import { guardHub } from './hub-guard.ts';
import type { ConnectionState } from './connection-state.ts';

/** WebhookAdmin over KV `webhooks` (this facade's NATS account is its environment). */
export class NatsWebhookAdmin implements WebhookAdmin {
  readonly #configs: WebhookConfigs;
  readonly #connection: ConnectionState;
  readonly #policy: WebhookUrlPolicy;

  private constructor(configs: WebhookConfigs, connection: ConnectionState, policy: WebhookUrlPolicy) {
    this.#configs = configs;
    this.#connection = connection;
    this.#policy = policy;
  }

  static async open(options: { nc: NatsConnection; connection: ConnectionState; replicas?: number; urlPolicy: WebhookUrlPolicy }): Promise<NatsWebhookAdmin> {
    const { configs } = await openWebhookResources(options.nc, { replicas: options.replicas ?? 1 });
    return new NatsWebhookAdmin(configs, options.connection, options.urlPolicy);
  }

  async set(integratorId: string, url: string, by: string): Promise<SupportWebhookSet> {
    const checked = await checkWebhookUrl(url, this.#policy);
    // 256 random bits, shown once; Halo's receivers key an HMAC with it.
    const secret = `whsec_${randomBytes(32).toString('base64url')}`;
    const config: WebhookConfig = { url: checked.href.replaceAll('%7B', '{').replaceAll('%7D', '}'), secret, updatedAt: new Date().toISOString(), updatedBy: by };
    await guardHub(this.#connection, 'webhooks are', () => this.#configs.set(integratorId, config));
    return { integratorId, url: config.url, updatedAt: config.updatedAt, updatedBy: config.updatedBy, secret };
  }

  get(integratorId: string): Promise<SupportWebhookView | null> {
    return guardHub(this.#connection, 'webhooks are', async () => {
      const config = await this.#configs.get(integratorId);
      return config ? { integratorId, url: config.url, updatedAt: config.updatedAt, updatedBy: config.updatedBy } : null;
    });
  }

  delete(integratorId: string): Promise<boolean> {
    return guardHub(this.#connection, 'webhooks are', () => this.#configs.delete(integratorId));
  }
}
