import { z } from 'zod';
import { HttpError } from './halo-api.ts';

export const SitesQuery = z.object({
  practiceManagementSiteId: z.string().min(1).max(128),
  practiceManagementName: z.string().min(1).max(64).optional(),
}).strict();
export type SitesQuery = z.infer<typeof SitesQuery>;

/** A dependency of the facade as `/health` last probed it. */
export const DependencyHealth = z.enum(['ok', 'unavailable']);
export type DependencyHealth = z.infer<typeof DependencyHealth>;

/** `/health` while the facade can serve queries: `degraded` when the registry or JetStream is down but not both. */
export const HealthResponse = z.object({ status: z.enum(['ok', 'degraded']), nats: z.string(), registry: DependencyHealth, jetstream: DependencyHealth, version: z.string() });
export type HealthResponse = z.infer<typeof HealthResponse>;

/** `/health` (503) when it cannot: the error envelope plus what each dependency said. */
export const HealthUnavailableResponse = HttpError.extend(HealthResponse.omit({ status: true }).shape);
export type HealthUnavailableResponse = z.infer<typeof HealthUnavailableResponse>;
