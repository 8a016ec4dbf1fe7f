/** Runs a cursor's reads one after another, even when a caller does not wait between next() calls. */
export class SerialReads {
  #last: Promise<unknown> = Promise.resolve();

  /** Starts `read` once every earlier read has settled; its failure is the caller's, not the next read's. */
  run<T>(read: () => Promise<T>): Promise<T> {
    const result = this.#last.then(() => read());
    this.#last = result.catch(() => {});
    return result;
  }
}
