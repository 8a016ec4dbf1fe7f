import type { SwaggerOptions } from '@fastify/swagger';
import { HttpError } from '@halo/contracts';
import { zodSwaggerTransform } from './zod-schema.ts';

/** The header integrators authenticate with (kept from the established Halo Cloud API). */
export const SUBSCRIPTION_KEY_HEADER = 'ocp-apim-subscription-key';

/** OpenAPI security requirement of every `/integrator/*` route. */
export const SUBSCRIPTION_KEY_SECURITY = [{ subscriptionKey: [] }];

const ERROR_DESCRIPTIONS: Readonly<Record<number, string>> = {
  400: 'bad_request: the request does not match the schema (the message names the fields)',
  401: 'unauthorized: missing or unknown subscription key',
  403: 'site_not_paired: the integrator has not paired with this site; site_not_authoritative: another site is authoritative for this practice; not_onboarded: the integrator is not onboarded for the site\'s PMS type',
  409: 'query_not_ready / query_finished / cancelled',
  410: 'gone: the query and its results have expired',
  404: 'site_not_found / not_found',
  413: 'payload_too_large: body over 1 MiB',
  429: 'rate_limited: over the integrator\'s request rate; wait the Retry-After seconds',
  503: 'site_offline / registry_unavailable / agent_busy',
  504: 'deadline_exceeded: no answer before the deadline',
};

/** Documented error answers for the given statuses, all in the `{error:{status, statusText, code, message}}` shape. */
export function errorResponses(...statuses: number[]): Record<number, unknown> {
  return Object.fromEntries(statuses.map((s) => [s, HttpError.describe(ERROR_DESCRIPTIONS[s] ?? 'error')]));
}

/** @fastify/swagger options: OpenAPI 3 generated from the routes' zod schemas (UI at /docs, JSON at /docs/json). */
export function swaggerOptions(version: string): SwaggerOptions {
  return {
    openapi: {
      openapi: '3.0.3',
      info: { title: 'Halo Cloud integrator API', version },
      components: {
        securitySchemes: { subscriptionKey: { type: 'apiKey', in: 'header', name: 'Ocp-Apim-Subscription-Key' } },
      },
    },
    transform: zodSwaggerTransform,
  };
}
