// Client requests after login: SQL batch (MS-TDS 2.2.6.7) and RPC (2.2.6.6), both led by ALL_HEADERS.
import { ByteReader } from './bytes.ts';
import { readParameter } from './types.ts';
import type { DecodedParameter } from './types.ts';

const SP_EXECUTESQL = 10;

/** A decoded RPC call. */
export interface RpcCall {
  /** Procedure name, or 'sp_executesql' etc. for well-known procedure ids. */
  procedure: string;
  /** Parameters in order, names as sent (with '@'; '' for unnamed); `output`: sent by reference (OUTPUT). */
  parameters: Array<{ name: string; output: boolean } & DecodedParameter>;
}

export function parseSqlBatch(payload: Buffer): string {
  return payload.subarray(skipAllHeaders(payload)).toString('utf16le');
}

export function parseRpc(payload: Buffer): RpcCall {
  const r = new ByteReader(payload, skipAllHeaders(payload));
  const nameLength = r.u16();
  let procedure: string;
  if (nameLength === 0xffff) {
    const id = r.u16();
    procedure = id === SP_EXECUTESQL ? 'sp_executesql' : `proc#${id}`;
  } else {
    procedure = r.take(nameLength * 2).toString('utf16le');
  }
  r.u16(); // option flags
  const parameters: RpcCall['parameters'] = [];
  while (r.remaining > 0) {
    const name = r.bVarChar();
    const status = r.u8(); // 0x01: by reference (an OUTPUT parameter)
    parameters.push({ name, output: (status & 0x01) !== 0, ...readParameter(r) });
  }
  return { procedure, parameters };
}

function skipAllHeaders(payload: Buffer): number {
  const total = payload.length >= 4 ? payload.readUInt32LE(0) : 0;
  return total >= 4 && total <= payload.length ? total : 0;
}
