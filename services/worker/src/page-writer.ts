import type { ObjectStore } from '@nats-io/obj';
import { setTimeout as sleep } from 'node:timers/promises';
import { AppError, asyncPageName, jsonArrayOf } from '@halo/contracts';
import type { RowBytes } from '@halo/messaging';

/** How long storing one result page is retried before the query ends `uploadFailed` (a leader election takes seconds). */
const PAGE_RETRY_MS = 15_000;

/**
 * Turns rows chunks into result pages (a JSON array of row objects each: the agent's chunks joined, about
 * `pageBytes` long, a chunk more at most) in the object store. `add` resolves only once any page it filled is
 * stored, so the caller asks the agent for more rows only after the previous ones are safe.
 */
export class PageWriter {
  readonly #store: ObjectStore;
  readonly #queryId: string;
  readonly #pageBytes: number;
  #buffer: Uint8Array[] = [];
  #bufferBytes = 0;
  #bufferRows = 0;
  #pages = 0;
  #rows = 0;
  readonly #written: { rowsCount: number; bytes: number }[] = [];
  #firstWrite: number | undefined;

  constructor(options: { store: ObjectStore; queryId: string; pageBytes: number }) {
    this.#store = options.store;
    this.#queryId = options.queryId;
    this.#pageBytes = options.pageBytes;
  }

  /** Pages written so far. */
  get pageCount(): number {
    return this.#pages;
  }

  /** Rows and bytes of each page written, page 1 first. */
  get pages(): { rowsCount: number; bytes: number }[] {
    return [...this.#written];
  }

  /** Epoch ms the first page was stored (results expire relative to it); undefined before. */
  get firstWriteAt(): number | undefined {
    return this.#firstWrite;
  }

  async add(chunk: RowBytes): Promise<void> {
    this.#buffer.push(chunk.bytes);
    this.#bufferBytes += chunk.bytes.byteLength + 1;
    this.#bufferRows += chunk.count;
    if (this.#bufferBytes >= this.#pageBytes) await this.#flush();
  }

  /** Writes the last, partial page. */
  async finish(): Promise<void> {
    if (this.#buffer.length > 0) await this.#flush();
  }

  async #flush(): Promise<void> {
    const page = this.#pages + 1;
    const rowsCount = this.#bufferRows;
    const data = jsonArrayOf(this.#buffer);
    this.#buffer = [];
    this.#bufferBytes = 0;
    this.#bufferRows = 0;
    this.#firstWrite ??= Date.now();
    // A hub node's death moves the object store's stream leader (an election of a few seconds) and this
    // connection to another node: a page is stored again until PAGE_RETRY_MS has passed (a put replaces the name).
    const until = Date.now() + PAGE_RETRY_MS;
    for (let attempt = 1; ; attempt++) {
      try {
        await this.#store.putBlob({
          name: asyncPageName(this.#queryId, page),
          metadata: { rowsCount: String(rowsCount), rowsStart: String(this.#rows) },
        }, data);
        break;
      } catch (cause) {
        if (Date.now() >= until) throw new UploadError(new AppError('internal', 'storing a result page failed', { cause }));
        await sleep(Math.min(2_000, 100 * 2 ** attempt));
      }
    }
    this.#pages = page;
    this.#rows += rowsCount;
    this.#written.push({ rowsCount, bytes: data.byteLength });
  }
}

/** A result page could not be stored: the query ends `uploadFailed`, not `executionFailed`. */
export class UploadError extends Error {
  readonly appError: AppError;
  constructor(appError: AppError) {
    super(appError.message, { cause: appError });
    this.name = 'UploadError';
    this.appError = appError;
  }
}

/** Deletes pages `from`, `from + 1`, … until one is missing (pages are contiguous from 1). */
export async function deletePagesFrom(store: ObjectStore, queryId: string, from: number): Promise<number> {
  let deleted = 0;
  for (let page = from; ; page++) {
    const name = asyncPageName(queryId, page);
    const info = await store.info(name);
    if (!info || info.deleted) return deleted;
    await store.delete(name);
    deleted++;
  }
}
