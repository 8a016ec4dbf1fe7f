// The TDS responder's public surface (re-exported by @halo/testkit).
export { normaliseSql, startTdsResponder, TDS_DEFAULT_LOGIN } from './responder.ts';
export type {
  TdsError, TdsFixtures, TdsOutput, TdsReply, TdsRequest, TdsResponder, TdsResponderOptions, TdsResponderStats, TdsResultSet,
} from './responder.ts';
export type { DecodedParameter, TdsColumn, TdsColumnType, TdsParameterValue, TdsValue } from './types.ts';
