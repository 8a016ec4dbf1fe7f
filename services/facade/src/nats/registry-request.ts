import type { z } from 'zod';
import { AppError, isAppError } from '@halo/contracts';
import { requestJson, type NatsConnection } from '@halo/messaging';

/** A request to the registry; every way it can fail is registry_unavailable (503) with a plain message. */
export async function requestRegistry<S extends z.ZodType>(nc: NatsConnection, subject: string, payload: unknown, schema: S, timeoutMs: number): Promise<z.infer<S>> {
  try {
    return await requestJson(nc, subject, payload, schema, { timeoutMs, noResponders: 'registry_unavailable' });
  } catch (err) {
    // A slow registry is the registry's outage (503), not the integrator's deadline (504).
    if (isAppError(err) && err.code === 'deadline_exceeded') throw new AppError('registry_unavailable', 'registry did not answer in time', { cause: err });
    // Transport errors name subjects; callers (and integrators) only need to know the registry is down.
    if (isAppError(err) && err.code === 'registry_unavailable' && err.cause !== undefined) throw new AppError('registry_unavailable', 'registry unavailable', { cause: err });
    throw err;
  }
}
