// Server tokens of a tabular result (MS-TDS 2.2.7) that the responder sends.
import { ByteWriter } from './bytes.ts';
import { COLLATION, writeTypeInfo, writeValue } from './types.ts';
import type { TdsColumn, TdsValue } from './types.ts';

const TOKEN = {
  COLMETADATA: 0x81, ERROR: 0xaa, INFO: 0xab, LOGINACK: 0xad, ROW: 0xd1, ENVCHANGE: 0xe3,
  DONE: 0xfd, DONEPROC: 0xfe, DONEINPROC: 0xff, RETURNSTATUS: 0x79, RETURNVALUE: 0xac,
} as const;

/** DONE status bits. */
export const DONE = { FINAL: 0x0000, MORE: 0x0001, ERROR: 0x0002, COUNT: 0x0010, ATTN: 0x0020 } as const;

/** TDS 7.4, as LOGINACK spells it (big-endian). */
const TDS_7_4 = 0x74000004;

/** Token that ends a statement: DONE after a batch, DONEINPROC / DONEPROC inside an RPC. */
export type DoneKind = 'done' | 'doneInProc' | 'doneProc';

export function done(kind: DoneKind, status: number, rowCount = 0): Buffer {
  const token = kind === 'done' ? TOKEN.DONE : kind === 'doneProc' ? TOKEN.DONEPROC : TOKEN.DONEINPROC;
  return new ByteWriter().u8(token).u16(status).u16(0xc1).u64(BigInt(rowCount)).toBuffer();
}

export function returnStatus(value: number): Buffer {
  return new ByteWriter().u8(TOKEN.RETURNSTATUS).i32(value).toBuffer();
}

/** ERROR (or INFO for severity <= 10) with the given SQL Server error number. */
export function message(number: number, text: string, severity: number, state: number, server: string): Buffer {
  const body = new ByteWriter().i32(number).u8(state).u8(severity).usVarChar(text).bVarChar(server).bVarChar('').i32(1);
  return new ByteWriter().u8(severity > 10 ? TOKEN.ERROR : TOKEN.INFO).u16(body.length).bytes(body.toBuffer()).toBuffer();
}

export function loginAck(progName: string): Buffer {
  const body = new ByteWriter().u8(1).u32be(TDS_7_4).bVarChar(progName).u8(16).u8(0).u8(0x03).u8(0xe8);
  return new ByteWriter().u8(TOKEN.LOGINACK).u16(body.length).bytes(body.toBuffer()).toBuffer();
}

/** ENVCHANGE for database (1) or packet size (4): B_VARCHAR new and old values. */
export function envChangeText(type: 1 | 4, value: string, old: string): Buffer {
  const body = new ByteWriter().u8(type).bVarChar(value).bVarChar(old);
  return new ByteWriter().u8(TOKEN.ENVCHANGE).u16(body.length).bytes(body.toBuffer()).toBuffer();
}

/** ENVCHANGE 7: the SQL collation clients encode varchar parameters with. */
export function envChangeCollation(): Buffer {
  const body = new ByteWriter().u8(7).u8(COLLATION.length).bytes(COLLATION).u8(0);
  return new ByteWriter().u8(TOKEN.ENVCHANGE).u16(body.length).bytes(body.toBuffer()).toBuffer();
}

export function colMetadata(columns: readonly TdsColumn[]): Buffer {
  const out = new ByteWriter().u8(TOKEN.COLMETADATA).u16(columns.length);
  for (const column of columns) {
    // Flags: nullable (0x0001), updateability unknown (0x0008).
    out.u32(0).u16(0x0009);
    writeTypeInfo(out, column);
    out.bVarChar(column.name);
  }
  return out.toBuffer();
}

export function row(columns: readonly TdsColumn[], values: readonly TdsValue[]): Buffer {
  const out = new ByteWriter().u8(TOKEN.ROW);
  columns.forEach((column, i) => writeValue(out, column, values[i] ?? null));
  return out.toBuffer();
}

/** RETURNVALUE (MS-TDS 2.2.7.19): an output parameter's value, sent after RETURNSTATUS and before DONEPROC. */
export function returnValue(ordinal: number, name: string, column: TdsColumn, value: TdsValue): Buffer {
  // Status 0x01: the value of an output parameter (0x02 would be a user-defined function's result).
  const out = new ByteWriter().u8(TOKEN.RETURNVALUE).u16(ordinal).bVarChar(name).u8(0x01).u32(0).u16(0x0009);
  writeTypeInfo(out, column);
  writeValue(out, column, value);
  return out.toBuffer();
}
