// Little helpers to build and read TDS byte strings (little-endian unless named otherwise).

/** Appends TDS primitives to a growing list of buffers. */
export class ByteWriter {
  readonly #parts: Buffer[] = [];
  #length = 0;

  get length(): number {
    return this.#length;
  }

  bytes(buffer: Buffer): this {
    this.#parts.push(buffer);
    this.#length += buffer.length;
    return this;
  }

  u8(value: number): this {
    return this.bytes(Buffer.from([value & 0xff]));
  }

  u16(value: number): this {
    const b = Buffer.alloc(2);
    b.writeUInt16LE(value);
    return this.bytes(b);
  }

  u16be(value: number): this {
    const b = Buffer.alloc(2);
    b.writeUInt16BE(value);
    return this.bytes(b);
  }

  i32(value: number): this {
    const b = Buffer.alloc(4);
    b.writeInt32LE(value);
    return this.bytes(b);
  }

  u32(value: number): this {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(value);
    return this.bytes(b);
  }

  u32be(value: number): this {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(value);
    return this.bytes(b);
  }

  u64(value: bigint): this {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(value);
    return this.bytes(b);
  }

  /** B_VARCHAR: a one-byte character count, then UCS-2. */
  bVarChar(text: string): this {
    return this.u8(text.length).bytes(Buffer.from(text, 'utf16le'));
  }

  /** US_VARCHAR: a two-byte character count, then UCS-2. */
  usVarChar(text: string): this {
    return this.u16(text.length).bytes(Buffer.from(text, 'utf16le'));
  }

  toBuffer(): Buffer {
    return Buffer.concat(this.#parts, this.#length);
  }
}

/** Reads TDS primitives from one message; a read past the end throws. */
export class ByteReader {
  readonly buffer: Buffer;
  offset: number;

  constructor(buffer: Buffer, offset = 0) {
    this.buffer = buffer;
    this.offset = offset;
  }

  get remaining(): number {
    return this.buffer.length - this.offset;
  }

  take(length: number): Buffer {
    if (length < 0 || this.offset + length > this.buffer.length) throw new Error('TDS message ends early');
    const slice = this.buffer.subarray(this.offset, this.offset + length);
    this.offset += length;
    return slice;
  }

  u8(): number {
    return this.take(1).readUInt8(0);
  }

  u16(): number {
    return this.take(2).readUInt16LE(0);
  }

  u32(): number {
    return this.take(4).readUInt32LE(0);
  }

  u64(): bigint {
    return this.take(8).readBigUInt64LE(0);
  }

  bVarChar(): string {
    return this.take(this.u8() * 2).toString('utf16le');
  }

  usVarChar(): string {
    return this.take(this.u16() * 2).toString('utf16le');
  }
}
