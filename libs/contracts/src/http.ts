import { z } from 'zod';
import { Availability, Catalogue, SiteStatus } from './registry.ts';
import { ColumnInfo, ExecutionMode } from './query.ts';

/** Error body of every non-2xx HTTP answer. */
export const HttpError = z.object({ error: z.object({ status: z.number().int(), code: z.string(), message: z.string() }) });
export type HttpError = z.infer<typeof HttpError>;

export const SitesQuery = z.object({
  practiceManagementSiteId: z.string().min(1).max(128),
  practiceManagementName: z.string().min(1).max(64).optional(),
}).strict();
export type SitesQuery = z.infer<typeof SitesQuery>;

export const HttpSite = z.object({
  id: z.string(),
  pmsType: z.string(),
  availability: Availability,
  status: SiteStatus,
  haloLinkVersion: z.string(),
  catalogue: z.array(Catalogue),
  practiceMetadata: z.object({
    pmsType: z.string(),
    practiceName: z.string(),
    practiceManagementSiteId: z.string(),
    practiceManagementVersion: z.string().optional(),
  }),
  authoritative: z.boolean(),
});
export type HttpSite = z.infer<typeof HttpSite>;

export const SitesResponse = z.object({ sites: z.array(HttpSite) });
export type SitesResponse = z.infer<typeof SitesResponse>;

export const QueryResponse = z.object({
  id: z.string(),
  siteId: z.string(),
  mode: z.literal('immediate'),
  executionMode: ExecutionMode,
  status: z.literal('successful'),
  statusTiming: z.object({ queued: z.string(), executing: z.string(), successful: z.string() }),
  metrics: z.object({ sqlExecutionDuration: z.number(), queuedDuration: z.number() }),
  result: z.object({
    rowCount: z.number().int(),
    size: z.number().int(),
    columns: z.array(ColumnInfo),
    records: z.array(z.record(z.string(), z.unknown())).optional(),
    data: z.string().optional(),
    scalar: z.unknown().optional(),
    affected: z.number().int().optional(),
  }),
});
export type QueryResponse = z.infer<typeof QueryResponse>;

/** A dependency of the facade as `/health` last probed it. */
export const DependencyHealth = z.enum(['ok', 'unavailable']);
export type DependencyHealth = z.infer<typeof DependencyHealth>;

/** `/health` while the facade can serve queries: `degraded` when the registry or JetStream is down but not both. */
export const HealthResponse = z.object({ status: z.enum(['ok', 'degraded']), nats: z.string(), registry: DependencyHealth, jetstream: DependencyHealth, version: z.string() });
export type HealthResponse = z.infer<typeof HealthResponse>;

/** `/health` (503) when it cannot: the error envelope plus what each dependency said. */
export const HealthUnavailableResponse = HttpError.extend(HealthResponse.omit({ status: true }).shape);
export type HealthUnavailableResponse = z.infer<typeof HealthUnavailableResponse>;
