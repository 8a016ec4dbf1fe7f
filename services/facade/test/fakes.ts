import { Writable } from 'node:stream';
import { AppError, RowEncoder, type QueryResult, type RowFormat, type SiteView } from '@halo/contracts';
import { createLogger, type Logger } from '@halo/log';
import type { ResultStream } from '@halo/messaging';
import { buildApp, keyAuthenticator, type FacadeDeps, type QueryClient, type QueryExecution, type SiteDirectory } from '../src/index.ts';

/** A well-formed subscription key (32 bytes, base64url). */
export const KEY = 'test-key-0123456789abcdefghijklmnopqrstuvwx';
export const AUTH = { 'ocp-apim-subscription-key': KEY };

export const SITE_ID = '11111111-1111-4111-8111-111111111111';
export const LINK_ID = '22222222-2222-4222-8222-222222222222';

/** A registry site view with sensible defaults. */
export function siteView(overrides: Partial<SiteView> = {}): SiteView {
  return {
    haloGuid: SITE_ID,
    linkGuid: LINK_ID,
    env: 'staging',
    pmsType: 'sample',
    pmsId: 'PRAC-1',
    practiceName: 'Sample Dental Surgery',
    practiceManagementVersion: '1.2.3',
    databaseIdentity: 'sqlite:/var/lib/sample.db',
    catalogues: [{ name: 'main', isDefault: true }],
    status: 'active',
    haloLinkVersion: '0.1.0',
    createdAt: '2026-01-01T00:00:00.000Z',
    updatedAt: '2026-01-01T00:00:00.000Z',
    authoritative: true,
    availability: 'online',
    ...overrides,
  };
}

/** In-memory SiteDirectory; `fail` makes every call throw. */
export class FakeDirectory implements SiteDirectory {
  sites: SiteView[] = [siteView()];
  fail: Error | null = null;
  lookups: { pmsId: string; pmsType?: string }[] = [];

  async lookup(req: { pmsId: string; pmsType?: string }): Promise<SiteView[]> {
    this.lookups.push(req);
    if (this.fail) throw this.fail;
    return this.sites.filter((s) => s.pmsId === req.pmsId && (req.pmsType === undefined || s.pmsType === req.pmsType));
  }

  async get(haloGuid: string): Promise<SiteView | null> {
    if (this.fail) throw this.fail;
    return this.sites.find((s) => s.haloGuid === haloGuid) ?? null;
  }
}

export const RESULT: QueryResult = {
  columns: [{ name: 'id', type: 'int' }, { name: 'name', type: 'nvarchar' }],
  rows: [[1, 'Ann'], [2, null]],
  rowCount: 2,
  bytes: 24,
  timings: { queuedMs: 5, executionMs: 12 },
};

/** QueryClient that records calls and answers with `respond` (default: RESULT). */
export class FakeQueries implements QueryClient {
  calls: { site: SiteView; request: QueryExecution; signal: AbortSignal }[] = [];
  respond: (request: QueryExecution, signal: AbortSignal) => Promise<QueryResult> = async () => RESULT;

  start(site: SiteView, request: QueryExecution, signal: AbortSignal): ResultStream {
    this.calls.push({ site, request, signal });
    return streamOf(request.queryId, this.respond(request, signal), request.rowFormat);
  }
}

/** A pino destination that keeps every line in memory. */
export class MemoryStream extends Writable {
  readonly chunks: string[] = [];
  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: () => void): void {
    this.chunks.push(chunk.toString('utf8'));
    callback();
  }
  get text(): string {
    return this.chunks.join('');
  }
  lines(): Record<string, unknown>[] {
    return this.text.split('\n').filter((l) => l.length > 0).map((l) => JSON.parse(l) as Record<string, unknown>);
  }
}

export interface TestApp {
  app: ReturnType<typeof buildApp>;
  directory: FakeDirectory;
  queries: FakeQueries;
  logs: MemoryStream;
  log: Logger;
  deps: FacadeDeps;
}

/** buildApp over fakes, logging at trace level into memory. */
export function testApp(overrides: Partial<FacadeDeps> = {}, options: Parameters<typeof buildApp>[1] = {}): TestApp {
  const directory = new FakeDirectory();
  const queries = new FakeQueries();
  const logs = new MemoryStream();
  const log = createLogger({ name: 'facade-test', level: 'trace', destination: logs });
  const deps: FacadeDeps = {
    directory,
    queries,
    auth: keyAuthenticator([{ integratorId: 'acme', key: KEY }]),
    log,
    version: '9.9.9',
    queryTimeoutMs: 30_000,
    health: () => ({ nats: 'connected', registry: 'ok', jetstream: 'ok' }),
    ...overrides,
  };
  return { app: buildApp(deps, options), directory, queries, logs, log, deps };
}

/** A minimal valid immediate query body. */
export function queryBody(extra: Record<string, unknown> = {}, command: Record<string, unknown> = {}): Record<string, unknown> {
  return { command: { text: 'SELECT id, name FROM patients', ...command }, ...extra };
}

export const QUERY_URL = `/integrator/sites/${SITE_ID}/queries/immediate`;

export { AppError };

/** A ResultStream over a whole result that arrives later (or fails): one chunk encoded as an agent would, then the summary. */
export function streamOf(queryId: string, result: Promise<QueryResult>, rowFormat: RowFormat = 'json'): ResultStream {
  result.catch(() => undefined);
  return {
    queryId,
    columns: async () => (await result).columns,
    summary: async () => {
      const r = await result;
      return { rowCount: r.rowCount, bytes: r.bytes, timings: r.timings, ...(r.affected !== undefined ? { affected: r.affected } : {}) };
    },
    cancel: () => undefined,
    async *[Symbol.asyncIterator]() {
      const r = await result;
      if (r.rows.length === 0) return;
      const chunk = new RowEncoder(r.columns, rowFormat).encode(r.rows);
      yield { count: chunk.count, bytes: Buffer.from(chunk.text) };
    },
  };
}
