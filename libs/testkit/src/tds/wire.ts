// TDS packet framing (MS-TDS 2.2.3): an 8-byte header (type, status, big-endian length, spid, packet id,
// window) before each packet; a message is the packets up to the one whose status has END_OF_MESSAGE.
import type { Socket } from 'node:net';

/** Packet types this responder reads or writes. */
export const PACKET = {
  SQL_BATCH: 0x01,
  RPC: 0x03,
  TABULAR_RESULT: 0x04,
  ATTENTION: 0x06,
  LOGIN7: 0x10,
  SSPI: 0x11,
  PRELOGIN: 0x12,
} as const;

const STATUS_EOM = 0x01;
const STATUS_IGNORE = 0x02;
const HEADER = 8;

/** One whole client message. */
export interface TdsMessage {
  type: number;
  /** The client ended the message with the IGNORE bit: it cancelled it before sending it all. */
  ignored: boolean;
  payload: Buffer;
}

/** Reassembles client messages from socket data; ATTENTION messages are reported as they arrive. */
export class MessageReader {
  #pending: Buffer = Buffer.alloc(0);
  #parts: Buffer[] = [];
  readonly #onMessage: (message: TdsMessage) => void;

  constructor(onMessage: (message: TdsMessage) => void) {
    this.#onMessage = onMessage;
  }

  push(data: Buffer): void {
    this.#pending = this.#pending.length === 0 ? data : Buffer.concat([this.#pending, data]);
    while (this.#pending.length >= HEADER) {
      const length = this.#pending.readUInt16BE(2);
      if (length < HEADER) throw new Error(`TDS packet length ${length} is shorter than its header`);
      if (this.#pending.length < length) return;
      const type = this.#pending[0] ?? 0;
      const status = this.#pending[1] ?? 0;
      this.#parts.push(this.#pending.subarray(HEADER, length));
      this.#pending = this.#pending.subarray(length);
      if (status & STATUS_EOM) {
        const payload = Buffer.concat(this.#parts);
        this.#parts = [];
        this.#onMessage({ type, ignored: (status & STATUS_IGNORE) !== 0, payload });
      }
    }
  }
}

/**
 * Writes one server message as packets of the negotiated size, honouring socket backpressure, so a client
 * that stops reading stops the writer too. `write` buffers; packets leave once a packet is full or on flush.
 */
export class MessageWriter {
  readonly #socket: Socket;
  readonly #packetSize: number;
  readonly #type: number;
  #chunks: Buffer[] = [];
  #buffered = 0;
  #packetId = 1;

  constructor(socket: Socket, packetSize: number, type: number = PACKET.TABULAR_RESULT) {
    this.#socket = socket;
    this.#packetSize = packetSize;
    this.#type = type;
  }

  /** Queues bytes; sends every full packet, waiting for the socket to drain when its buffer is full. */
  async write(bytes: Buffer): Promise<void> {
    this.#chunks.push(bytes);
    this.#buffered += bytes.length;
    const body = this.#packetSize - HEADER;
    if (this.#buffered <= body) return;
    let all = Buffer.concat(this.#chunks);
    // Keep at least one byte back so the message always ends with a packet written by end().
    while (all.length > body) {
      await this.#send(all.subarray(0, body), false);
      all = all.subarray(body);
    }
    this.#chunks = [all];
    this.#buffered = all.length;
  }

  /** Sends what is buffered as a packet that does not end the message (a slow producer's rows). */
  async flush(): Promise<void> {
    if (this.#buffered === 0) return;
    const all = Buffer.concat(this.#chunks);
    this.#chunks = [];
    this.#buffered = 0;
    await this.#send(all, false);
  }

  /** Sends the rest with END_OF_MESSAGE. */
  async end(): Promise<void> {
    const all = Buffer.concat(this.#chunks);
    this.#chunks = [];
    this.#buffered = 0;
    await this.#send(all, true);
  }

  async #send(body: Buffer, last: boolean): Promise<void> {
    if (this.#socket.destroyed) throw new Error('the client closed the connection');
    const header = Buffer.alloc(HEADER);
    header[0] = this.#type;
    header[1] = last ? STATUS_EOM : 0;
    header.writeUInt16BE(body.length + HEADER, 2);
    header[6] = this.#packetId++ & 0xff;
    if (!this.#socket.write(Buffer.concat([header, body]))) await drained(this.#socket);
  }
}

function drained(socket: Socket): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = () => {
      socket.off('drain', done);
      socket.off('close', closed);
      resolve();
    };
    const closed = () => {
      socket.off('drain', done);
      reject(new Error('the client closed the connection'));
    };
    socket.once('drain', done);
    socket.once('close', closed);
  });
}
