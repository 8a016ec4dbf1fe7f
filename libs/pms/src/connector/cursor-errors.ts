import { AppError } from '@halo/contracts';

/** The error a cancelled query ends with: the caller's own AppError reason, else a plain cancel. */
export function cancelError(reason: unknown): AppError {
  return reason instanceof AppError ? reason : new AppError('cancelled', 'the query was cancelled');
}

/** The error a failed read ends a cursor with: an AppError as it is, anything else hidden behind a generic one. */
export function failureError(error: unknown): AppError {
  return error instanceof AppError ? error : new AppError('internal', 'the query failed');
}
