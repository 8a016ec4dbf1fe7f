import net from 'node:net';

/** One HTTP/1.1 response as read off the wire (header names lower-cased). */
export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/**
 * A plain TCP connection to a listening server, for what HTTP clients hide: bytes sent as they are (malformed,
 * partial, slow), responses read as they come, and whether the server closed the connection.
 */
export class RawConnection {
  /** Resolves when the server ends or closes the connection (or it fails); never rejects. */
  readonly closed: Promise<void>;
  #socket: net.Socket;
  #buffer = Buffer.alloc(0);
  #isClosed = false;
  #waiter: (() => void) | undefined;

  private constructor(socket: net.Socket) {
    this.#socket = socket;
    socket.on('data', (data: Buffer) => {
      this.#buffer = Buffer.concat([this.#buffer, data]);
      this.#waiter?.();
    });
    this.closed = new Promise((resolve) => {
      const done = (): void => {
        this.#isClosed = true;
        this.#waiter?.();
        resolve();
      };
      socket.once('end', done);
      socket.once('close', done);
    });
    socket.on('error', () => undefined);
  }

  static open(port: number, host = '127.0.0.1'): Promise<RawConnection> {
    return new Promise((resolve, reject) => {
      const socket = net.connect(port, host);
      socket.once('connect', () => resolve(new RawConnection(socket)));
      socket.once('error', reject);
    });
  }

  /** True once the server ended or closed the connection. */
  get isClosed(): boolean {
    return this.#isClosed;
  }

  /** Bytes received and not yet taken by response(). */
  get received(): number {
    return this.#buffer.length;
  }

  write(data: string | Buffer): void {
    this.#socket.write(data);
  }

  /** The next whole response (Content-Length bodies); rejects if the connection closes first. */
  async response(): Promise<RawResponse> {
    for (;;) {
      const parsed = this.#take();
      if (parsed) return parsed;
      if (this.#isClosed) throw new Error(`connection closed without a whole response (${this.#buffer.length} bytes: ${JSON.stringify(this.#buffer.toString('latin1').slice(0, 200))})`);
      await new Promise<void>((resolve) => { this.#waiter = resolve; });
      this.#waiter = undefined;
    }
  }

  destroy(): void {
    this.#socket.destroy();
  }

  #take(): RawResponse | undefined {
    const end = this.#buffer.indexOf('\r\n\r\n');
    if (end < 0) return undefined;
    const [statusLine = '', ...lines] = this.#buffer.subarray(0, end).toString('latin1').split('\r\n');
    const headers: Record<string, string> = {};
    for (const line of lines) {
      const colon = line.indexOf(':');
      headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
    }
    const length = Number(headers['content-length'] ?? 0);
    if (this.#buffer.length < end + 4 + length) return undefined;
    const body = this.#buffer.subarray(end + 4, end + 4 + length).toString('utf8');
    this.#buffer = this.#buffer.subarray(end + 4 + length);
    return { status: Number(statusLine.split(' ')[1]), headers, body };
  }
}
