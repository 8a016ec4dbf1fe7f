import type { FieldPacket } from 'mysql2';

// MySQL protocol column type codes -> SQL type names.
const NAMES: ReadonlyMap<number, string> = new Map([
  [0, 'decimal'], [1, 'tinyint'], [2, 'smallint'], [3, 'int'], [4, 'float'], [5, 'double'], [6, 'null'],
  [7, 'timestamp'], [8, 'bigint'], [9, 'mediumint'], [10, 'date'], [11, 'time'], [12, 'datetime'], [13, 'year'],
  [14, 'date'], [15, 'varchar'], [16, 'bit'], [245, 'json'], [246, 'decimal'], [247, 'enum'], [248, 'set'],
  [249, 'tinyblob'], [250, 'mediumblob'], [251, 'longblob'], [252, 'blob'], [253, 'varchar'], [254, 'char'],
  [255, 'geometry'],
]);
const BINARY_CHARSET = 63;
const TEXT_OF_BLOB: Readonly<Record<string, string>> = {
  tinyblob: 'tinytext', mediumblob: 'mediumtext', longblob: 'longtext', blob: 'text',
};

/** The SQL type name of a result column, e.g. "int", "varchar", "varbinary", "text", "datetime". */
export function mysqlTypeName(field: FieldPacket): string {
  if (field.extendedTypeName) return field.extendedTypeName; // MariaDB: uuid, inet6, ...
  if (field.extendedFormat === 'json') return 'json';
  const code = field.columnType ?? field.type ?? -1;
  const name = NAMES.get(code) ?? `type:${code}`;
  const binary = field.characterSet === BINARY_CHARSET;
  if (name === 'varchar' || name === 'char') return binary ? (name === 'char' ? 'binary' : 'varbinary') : name;
  const text = TEXT_OF_BLOB[name];
  return text !== undefined && !binary ? text : name;
}
