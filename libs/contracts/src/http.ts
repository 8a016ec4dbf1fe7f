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

export const HealthResponse = z.object({ status: z.enum(['ok', 'degraded']), nats: z.string(), version: z.string() });
export type HealthResponse = z.infer<typeof HealthResponse>;
