// How PostgreSQL values become JSON-safe cells. pg's default parsers turn dates into JS Dates in the agent's time
// zone and JSON into objects; here values keep PostgreSQL's own text except where a JSON type fits exactly.
import pg from 'pg';
import type { CustomTypesConfig } from 'pg';

type Parser = (text: string) => unknown;

const SAFE_INTEGER = /^-?\d{1,15}$/;
const TIMESTAMP_TZ = /^(\d{4,}-\d{2}-\d{2}) (\d{2}:\d{2}:\d{2}(?:\.\d+)?)([+-]\d{2})(?::(\d{2}))?(?::\d{2})?$/;
const bytea = pg.types.getTypeParser(17, 'text') as Parser;

// Text-format parsers by type OID; every type not listed keeps PostgreSQL's text (numeric, money, json, uuid,
// interval, time, arrays, ...), which is exact and JSON-safe.
const PARSERS: ReadonlyMap<number, Parser> = new Map<number, Parser>([
  [16, (text) => text === 't'], // bool
  [17, bytea], // bytea -> Buffer -> base64 cell
  [20, (text) => (SAFE_INTEGER.test(text) || Number.isSafeInteger(Number(text)) ? Number(text) : text)], // int8
  [21, Number], // int2
  [23, Number], // int4
  [26, Number], // oid
  [700, Number], // float4 (NaN, Infinity become strings in toCell)
  [701, Number], // float8
  [1114, (text) => text.replace(' ', 'T')], // timestamp: ISO without offset, as stored
  [1184, timestampTz], // timestamptz: ISO with the session's offset
]);

/** ISO 8601 from PostgreSQL's ISO output, e.g. "2025-01-06 10:00:00+11" -> "2025-01-06T10:00:00+11:00". */
function timestampTz(text: string): string {
  const match = TIMESTAMP_TZ.exec(text);
  if (!match) return text; // infinity, BC dates
  const offset = `${match[3]}:${match[4] ?? '00'}`;
  return `${match[1]}T${match[2]}${offset === '+00:00' ? 'Z' : offset}`;
}

/** Type parsers for pg clients and cursors of the connector. */
export const POSTGRES_TYPES: CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: string) =>
    format === 'binary' ? pg.types.getTypeParser(oid, 'binary') : (PARSERS.get(oid) ?? ((text: string) => text))) as CustomTypesConfig['getTypeParser'],
};

const TYPE_NAMES: ReadonlyMap<number, string> = new Map([
  [16, 'bool'], [17, 'bytea'], [18, 'char'], [19, 'name'], [20, 'int8'], [21, 'int2'], [23, 'int4'], [25, 'text'],
  [26, 'oid'], [114, 'json'], [142, 'xml'], [650, 'cidr'], [700, 'float4'], [701, 'float8'], [790, 'money'],
  [829, 'macaddr'], [869, 'inet'], [1042, 'bpchar'], [1043, 'varchar'], [1082, 'date'], [1083, 'time'],
  [1114, 'timestamp'], [1184, 'timestamptz'], [1186, 'interval'], [1266, 'timetz'], [1560, 'bit'],
  [1562, 'varbit'], [1700, 'numeric'], [2950, 'uuid'], [3802, 'jsonb'], [1000, '_bool'], [1005, '_int2'],
  [1007, '_int4'], [1016, '_int8'], [1009, '_text'], [1015, '_varchar'], [1021, '_float4'], [1022, '_float8'],
  [1231, '_numeric'], [2951, '_uuid'], [3807, '_jsonb'],
]);

/** The PostgreSQL type name of a result column (built-in types), else "oid:<n>". */
export function postgresTypeName(oid: number): string {
  return TYPE_NAMES.get(oid) ?? `oid:${oid}`;
}
