import type { z } from 'zod';
import { AppError } from '@halo/contracts';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** JSON bytes of a value. */
export function encodeJson(value: unknown): Uint8Array {
  return encoder.encode(JSON.stringify(value));
}

/** Parses JSON bytes with a schema; malformed input is an AppError('bad_request'), never a crash. */
export function decodeJson<S extends z.ZodType>(schema: S, data: Uint8Array): z.infer<S> {
  let raw: unknown;
  try {
    raw = JSON.parse(decoder.decode(data));
  } catch (cause) {
    throw new AppError('bad_request', 'message is not valid JSON', { cause });
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    const where = parsed.error.issues[0]?.path.join('.') ?? '';
    throw new AppError('bad_request', `message does not match its schema${where ? ` at ${where}` : ''}`, { cause: parsed.error });
  }
  return parsed.data;
}
