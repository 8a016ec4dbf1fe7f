import { z } from 'zod';
import type { FastifySchema, FastifySchemaCompiler, FastifySerializerCompiler, FastifyTypeProvider } from 'fastify';
import type { SwaggerTransform } from '@fastify/swagger';
import { AppError } from '@halo/contracts';
import { validationMessage } from './validation-message.ts';

/**
 * Types each handler's request parts from its route's zod schemas (`app.withTypeProvider<ZodTypeProvider>()`),
 * so handlers read `request.params` without casts. Written here rather than taken from fastify-type-provider-zod:
 * only this type is needed, and that package's compilers would replace ours, which give the one error envelope.
 */
export interface ZodTypeProvider extends FastifyTypeProvider {
  validator: this['schema'] extends z.ZodType ? z.output<this['schema']> : unknown;
  serializer: this['schema'] extends z.ZodType ? z.input<this['schema']> : unknown;
}

/**
 * Fastify validates with zod instead of ajv, so the contracts' schemas are the only definition of the API.
 * The error is an AppError('bad_request') whose message names field paths only.
 */
export const zodValidatorCompiler: FastifySchemaCompiler<unknown> = ({ schema, httpPart }) => {
  if (!(schema instanceof z.ZodType)) throw new TypeError(`route schema for ${httpPart ?? 'input'} must be a zod schema`);
  const part = httpPart === 'querystring' ? 'query string' : (httpPart ?? 'input');
  return (data: unknown) => {
    const parsed = schema.safeParse(data);
    if (parsed.success) return { value: parsed.data };
    return { error: new AppError('bad_request', validationMessage(part, parsed.error)) };
  };
};

/** Response schemas document the API; replies are built from typed values, so plain JSON is enough. */
export const jsonSerializerCompiler: FastifySerializerCompiler<unknown> = () => (data: unknown) => JSON.stringify(data);

/** JSON Schema (OpenAPI 3.0 dialect) of a zod schema; inputs describe what callers may send, defaults optional. */
export function toOpenApi(schema: unknown, io: 'input' | 'output'): unknown {
  if (!(schema instanceof z.ZodType)) return schema;
  const json = z.toJSONSchema(schema, { io, target: 'openapi-3.0', unrepresentable: 'any' }) as Record<string, unknown>;
  delete json.$schema;
  return json;
}

/** @fastify/swagger transform: converts each route's zod schemas to JSON Schema. */
export const zodSwaggerTransform: SwaggerTransform = ({ schema, url }) => {
  if (!schema) return { schema, url };
  const out: Record<string, unknown> = { ...schema };
  for (const part of ['body', 'querystring', 'params', 'headers'] as const) {
    if (schema[part] !== undefined) out[part] = toOpenApi(schema[part], 'input');
  }
  if (schema.response && typeof schema.response === 'object') {
    out.response = Object.fromEntries(
      Object.entries(schema.response as Record<string, unknown>).map(([status, s]) => [status, toOpenApi(s, 'output')]),
    );
  }
  return { schema: out as FastifySchema, url };
};
