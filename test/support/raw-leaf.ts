// A minimal leafnode-protocol client (what a tampered practice leaf could send), over the hub's TLS leafnode
// listener: INFO (plain) -> TLS -> CONNECT with a user JWT and the signed nonce -> LS+ / LS- / LMSG.
import { connect as tcpConnect, type Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { readFileSync } from 'node:fs';
import { keyFromSeed, parseCreds } from '@halo/nats-auth';

/** One message the hub delivered to this leaf. */
export interface LeafMessage {
  subject: string;
  reply?: string;
  data: string;
  /** The header block (`NATS/1.0` and its lines) of a message that has headers. */
  headers?: string;
}

export interface RawLeaf {
  /** Every protocol line the hub sent (INFO, PING, LS+, -ERR, ...), for assertions. */
  readonly lines: string[];
  readonly messages: LeafMessage[];
  /** Resolves when the hub (or anything) closes the connection. */
  readonly closed: Promise<void>;
  isClosed(): boolean;
  subscribe(subject: string): void;
  publish(subject: string, data: string, reply?: string): void;
  /** PING, resolved by the next PONG (or rejected when the connection closes). */
  ping(timeoutMs?: number): Promise<void>;
  close(): void;
}

function readLine(socket: Socket): Promise<string> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const onData = (chunk: Buffer) => {
      buf += chunk.toString('utf8');
      const i = buf.indexOf('\r\n');
      if (i >= 0) {
        socket.off('data', onData);
        socket.off('error', reject);
        if (buf.length > i + 2) socket.unshift(Buffer.from(buf.slice(i + 2), 'utf8'));
        resolve(buf.slice(0, i));
      }
    };
    socket.on('data', onData);
    socket.once('error', reject);
  });
}

/** Connects to `leafUrl` (nats-leaf://host:port) as the user of `credsFile`, verifying the hub against `caFile`. */
export async function connectRawLeaf(leafUrl: string, options: { credsFile: string; caFile: string; name: string }): Promise<RawLeaf> {
  const url = new URL(leafUrl.replace(/^nats-leaf:/, 'http:'));
  const plain = tcpConnect({ host: url.hostname, port: Number(url.port) });
  await new Promise<void>((resolve, reject) => plain.once('connect', resolve).once('error', reject));
  const infoLine = await readLine(plain);
  if (!infoLine.startsWith('INFO ')) throw new Error(`expected INFO, got ${infoLine.slice(0, 80)}`);
  const info = JSON.parse(infoLine.slice(5)) as { nonce?: string; tls_required?: boolean };
  const socket: TLSSocket = tlsConnect({ socket: plain, ca: readFileSync(options.caFile), servername: url.hostname === '127.0.0.1' ? undefined : url.hostname });
  await new Promise<void>((resolve, reject) => socket.once('secureConnect', resolve).once('error', reject));
  const { jwt, seed } = parseCreds(readFileSync(options.credsFile, 'utf8'));
  const sig = Buffer.from(keyFromSeed(seed).sign(Buffer.from(info.nonce ?? '', 'utf8'))).toString('base64url');
  const lines: string[] = [];
  const messages: LeafMessage[] = [];
  const pongs: Array<{ resolve: () => void; reject: (e: Error) => void }> = [];
  let closedFlag = false;
  const closed = new Promise<void>((resolve) => {
    socket.once('close', () => {
      closedFlag = true;
      for (const p of pongs.splice(0)) p.reject(new Error('connection closed'));
      resolve();
    });
  });
  socket.on('error', () => undefined);
  let buf = Buffer.alloc(0);
  socket.on('data', (chunk: Buffer) => {
    buf = Buffer.concat([buf, chunk]);
    for (;;) {
      const i = buf.indexOf('\r\n');
      if (i < 0) return;
      const line = buf.subarray(0, i).toString('utf8');
      // LMSG subject [reply] size, or with headers HMSG subject [reply] headerSize totalSize.
      const m = /^(?:LMSG (\S+)(?: (\S+))? (\d+)|HMSG (\S+)(?: (\S+))? (\d+) (\d+))$/.exec(line);
      if (m) {
        const headerSize = m[7] ? Number(m[6]) : 0;
        const size = Number(m[7] ?? m[3]);
        if (buf.length < i + 2 + size + 2) return;
        const body = buf.subarray(i + 2, i + 2 + size);
        const subject = (m[1] ?? m[4])!;
        const reply = m[2] ?? m[5];
        messages.push({
          subject, ...(reply ? { reply } : {}), data: body.subarray(headerSize).toString('utf8'),
          ...(headerSize > 0 ? { headers: body.subarray(0, headerSize).toString('utf8') } : {}),
        });
        lines.push(line);
        buf = buf.subarray(i + 2 + size + 2);
        continue;
      }
      buf = buf.subarray(i + 2);
      lines.push(line);
      if (line === 'PING') socket.write('PONG\r\n');
      if (line === 'PONG') pongs.shift()?.resolve();
    }
  });
  const connectInfo = { jwt, sig, name: options.name, headers: true, is_hub: false, protocol: 1, version: '2.15.1' };
  socket.write(`CONNECT ${JSON.stringify(connectInfo)}\r\n`);
  return {
    lines,
    messages,
    closed,
    isClosed: () => closedFlag,
    subscribe(subject) {
      socket.write(`LS+ ${subject}\r\n`);
    },
    publish(subject, data, reply) {
      const body = Buffer.from(data, 'utf8');
      socket.write(`LMSG ${subject}${reply ? ` ${reply}` : ''} ${body.length}\r\n`);
      socket.write(Buffer.concat([body, Buffer.from('\r\n')]));
    },
    ping(timeoutMs = 5_000) {
      return new Promise<void>((resolve, reject) => {
        if (closedFlag) return reject(new Error('connection closed'));
        const timer = setTimeout(() => reject(new Error('no PONG')), timeoutMs);
        pongs.push({ resolve: () => { clearTimeout(timer); resolve(); }, reject: (e) => { clearTimeout(timer); reject(e); } });
        socket.write('PING\r\n');
      });
    },
    close() {
      socket.destroy();
    },
  };
}
