// PRELOGIN (MS-TDS 2.2.6.5) and LOGIN7 (2.2.6.4): just enough to log a client in without TLS.
import { ByteReader, ByteWriter } from './bytes.ts';

/** What the responder needs from a LOGIN7 message. */
export interface Login7 {
  user: string;
  password: string;
  database: string;
  appName: string;
  packetSize: number;
  /** The client asked for integrated (SSPI / NTLM) authentication, which the responder does not offer. */
  integratedSecurity: boolean;
}

const ENCRYPT_NOT_SUP = 0x02;

/**
 * The answer to a client's PRELOGIN: version 16.0, encryption not supported (so the login travels in clear,
 * which is why this responder is test-only), no MARS.
 */
export function preloginResponse(): Buffer {
  const options: Array<[number, Buffer]> = [
    [0x00, Buffer.from([16, 0, 0x03, 0xe8, 0, 0])],
    [0x01, Buffer.from([ENCRYPT_NOT_SUP])],
    [0x02, Buffer.from([0])],
    [0x03, Buffer.alloc(4)],
    [0x04, Buffer.from([0])],
  ];
  const table = new ByteWriter();
  const data = new ByteWriter();
  let offset = options.length * 5 + 1;
  for (const [token, value] of options) {
    table.u8(token).u16be(offset).u16be(value.length);
    data.bytes(value);
    offset += value.length;
  }
  table.u8(0xff);
  return Buffer.concat([table.toBuffer(), data.toBuffer()]);
}

export function parseLogin7(payload: Buffer): Login7 {
  const r = new ByteReader(payload);
  const fixed = r.take(36);
  const packetSize = fixed.readUInt32LE(8);
  const optionFlags2 = fixed.readUInt8(25);
  const field = (at: number, decode: (bytes: Buffer) => string = (b) => b.toString('utf16le')): string => {
    const offset = payload.readUInt16LE(at);
    const chars = payload.readUInt16LE(at + 2);
    return decode(payload.subarray(offset, offset + chars * 2));
  };
  return {
    user: field(40),
    password: field(44, unscramble),
    appName: field(48),
    database: field(68),
    packetSize: packetSize >= 512 && packetSize <= 32_767 ? packetSize : 4096,
    integratedSecurity: (optionFlags2 & 0x80) !== 0,
  };
}

/** LOGIN7 passwords are obfuscated: each byte had its nibbles swapped, then XOR 0xA5. */
function unscramble(bytes: Buffer): string {
  const plain = Buffer.from(bytes);
  for (let i = 0; i < plain.length; i++) {
    const b = (plain[i] ?? 0) ^ 0xa5;
    plain[i] = ((b & 0x0f) << 4) | (b >> 4);
  }
  return plain.toString('utf16le');
}
