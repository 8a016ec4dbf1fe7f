import assert from 'node:assert/strict';
import { Ajv } from 'ajv';

type Json = Record<string, any>;

/** Asserts that `body` fits the schema our OpenAPI (/docs/json) documents for an operation's status. */
export async function assertDocumented(facadeUrl: string, method: string, route: string, status: number, body: unknown): Promise<void> {
  const doc = (await (await fetch(`${facadeUrl}/docs/json`)).json()) as Json;
  const schema = doc.paths?.[route]?.[method.toLowerCase()]?.responses?.[String(status)]?.content?.['application/json']?.schema;
  assert.ok(schema, `our OpenAPI documents ${method} ${route} ${status}`);
  const validate = new Ajv({ strict: false, allErrors: true }).compile(schema);
  assert.ok(validate(body), `${method} ${route} ${status}: ${JSON.stringify(validate.errors)}`);
}
