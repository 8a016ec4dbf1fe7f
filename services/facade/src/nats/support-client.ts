import { requestRegistry } from '@halo/registry-data';
import {
  EnrolResult, LookupResult, SupportAuditResult, SupportEnrolmentTokenResult, SupportRevokeResult,
  type EnrolRequest, type SupportEnrolmentTokenRequest, type SupportRevokeRequest, SupportListResult, SupportMoveResult, subjects,
  type LookupRequest, type SiteView, type SupportAuditRequest, type SupportListRequest, type SupportMoveRequest,
} from '@halo/contracts';
import { SupportKeyRotatedResult, SupportWebhookChangedResult, type SupportKeyRotatedRequest, type SupportWebhookChangedRequest } from '@halo/contracts';
import type { z } from 'zod';
import type { NatsConnection } from '@halo/messaging';
import type { SupportRegistry } from '../deps.ts';

/** The registry's support verbs over NATS request-reply (never cached: support wants the truth now). */
export class NatsSupportRegistry implements SupportRegistry {
  readonly #nc: NatsConnection;
  readonly #timeoutMs: number;

  constructor(options: { nc: NatsConnection; timeoutMs?: number }) {
    this.#nc = options.nc;
    this.#timeoutMs = options.timeoutMs ?? 10_000;
  }

  list(request: SupportListRequest): Promise<SupportListResult> {
    return this.#request(subjects.registry('support.list'), request, SupportListResult);
  }

  async sites(request: { pmsId: string; pmsType?: string }): Promise<SiteView[]> {
    const payload: LookupRequest = { pmsId: request.pmsId, ...(request.pmsType !== undefined ? { pmsType: request.pmsType } : {}) };
    return (await this.#request(subjects.registry('lookup'), payload, LookupResult)).sites;
  }

  move(request: SupportMoveRequest): Promise<SupportMoveResult> {
    return this.#request(subjects.registry('support.move'), request, SupportMoveResult);
  }

  audit(request: SupportAuditRequest): Promise<SupportAuditResult> {
    return this.#request(subjects.registry('support.audit'), request, SupportAuditResult);
  }

  enrolmentToken(request: SupportEnrolmentTokenRequest): Promise<SupportEnrolmentTokenResult> {
    return this.#request(subjects.registry('support.enrolmentToken'), request, SupportEnrolmentTokenResult);
  }

  revoke(request: SupportRevokeRequest): Promise<SupportRevokeResult> {
    return this.#request(subjects.registry('support.revoke'), request, SupportRevokeResult);
  }

  /** Has the registry audit a key slot rotated from the console. */
  keyRotated(request: SupportKeyRotatedRequest): Promise<SupportKeyRotatedResult> {
    return this.#request(subjects.registry('support.keyRotated'), request, SupportKeyRotatedResult);
  }

  /** Has the registry audit a webhook set or removed (support API or console). */
  webhookChanged(request: SupportWebhookChangedRequest): Promise<SupportWebhookChangedResult> {
    return this.#request(subjects.registry('support.webhookChanged'), request, SupportWebhookChangedResult);
  }

  /** `POST /enrol`, relayed as is (the registry checks the token). */
  enrol(request: EnrolRequest): Promise<EnrolResult> {
    return this.#request(subjects.registry('enrol'), request, EnrolResult);
  }

  #request<S extends z.ZodType>(subject: string, payload: unknown, schema: S): Promise<z.infer<S>> {
    return requestRegistry(this.#nc, subject, payload, schema, this.#timeoutMs);
  }
}
