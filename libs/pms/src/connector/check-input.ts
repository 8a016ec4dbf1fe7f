import { AppError } from '@halo/contracts';
import type { QueryInput } from './connector.ts';

const MODES = new Set(['reader', 'scalar', 'nonQuery']);

/** Refuses a malformed QueryInput with bad_request before it takes a turn on a connector. */
export function checkQueryInput(input: QueryInput): void {
  if (typeof input.text !== 'string' || input.text.trim() === '') throw new AppError('bad_request', 'the command text is empty');
  if (!MODES.has(input.executionMode)) throw new AppError('bad_request', 'unknown execution mode');
  if (!Number.isFinite(input.deadline)) throw new AppError('bad_request', 'the deadline must be epoch milliseconds');
  for (const limit of [input.maxRows, input.maxBytes, input.maxRowBytes]) {
    if (limit !== undefined && !(Number.isInteger(limit) && limit >= 0)) {
      throw new AppError('bad_request', 'result limits must be non-negative integers');
    }
  }
  for (const size of [input.batchRows, input.batchBytes]) {
    if (size !== undefined && !(Number.isInteger(size) && size > 0)) {
      throw new AppError('bad_request', 'batch sizes must be positive integers');
    }
  }
}
