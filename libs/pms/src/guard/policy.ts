// What the read-only guard refuses, per dialect. Names are compared after folding (see foldName), so
// `PG_SLEEP`, `"pg_sleep"` and `pg_catalog.pg_sleep` all match `pg_sleep`.

/** The SQL dialects the read-only guard understands (node-sql-parser's names for them). */
export type SqlDialect = 'sqlite' | 'postgresql' | 'mysql' | 'transactsql';

/** Deny-lists of one dialect. */
export interface DialectPolicy {
  /** Unquoted words that never belong in a read-only statement: DML/DDL keywords and statement starters. */
  readonly keywords: ReadonlySet<string>;
  /** Functions (and table-valued sources) with side effects, file or network access, locks or delays. */
  readonly functions: ReadonlySet<string>;
  /** Name prefixes refused like `functions` (whole families such as xp_* or dblink*). */
  readonly functionPrefixes: readonly string[];
}

// Words that start or make up a write in every dialect. INTO covers SELECT INTO, INTO OUTFILE/DUMPFILE and
// INSERT INTO; UPDATE also covers FOR UPDATE locking reads. A column really named like one must be quoted.
const COMMON_KEYWORDS = [
  'insert', 'update', 'delete', 'merge', 'upsert', 'drop', 'create', 'alter', 'truncate', 'grant', 'revoke',
  'into', 'exec', 'execute', 'call', 'outfile', 'dumpfile',
];

// Delays: no legitimate read needs one, and they are the classic timing oracle. Deadlines bound them anyway.
const POSTGRES_FUNCTIONS = [
  // Sequences and transaction ids write.
  'nextval', 'setval', 'txid_current', 'pg_current_xact_id',
  // Server-side large objects and files.
  'lo_import', 'lo_export', 'lo_create', 'lo_creat', 'lo_unlink', 'lo_open', 'lo_write', 'lo_put', 'lo_from_bytea',
  'lo_truncate', 'lo_truncate64', 'lo_lseek', 'lo_lseek64', 'lo_close', 'lo_get', 'lowrite', 'loread',
  'pg_read_file', 'pg_read_binary_file', 'pg_stat_file', 'pg_ls_dir', 'pg_ls_logdir', 'pg_ls_waldir',
  'pg_ls_tmpdir', 'pg_ls_archive_statusdir', 'pg_ls_logicalsnapdir', 'pg_ls_logicalmapdir', 'pg_ls_replslotdir',
  // Other sessions and the server itself.
  'pg_terminate_backend', 'pg_cancel_backend', 'pg_reload_conf', 'pg_rotate_logfile', 'pg_promote',
  'pg_switch_wal', 'pg_create_restore_point', 'pg_start_backup', 'pg_stop_backup', 'pg_backup_start',
  'pg_backup_stop', 'pg_wal_replay_pause', 'pg_wal_replay_resume', 'pg_log_backend_memory_contexts',
  'pg_import_system_collations', 'pg_logical_emit_message', 'pg_drop_replication_slot', 'pg_notify',
  'pg_copy_physical_replication_slot', 'pg_copy_logical_replication_slot', 'pg_logical_slot_get_changes',
  'pg_logical_slot_peek_changes', 'pg_replication_slot_advance',
  // Session state.
  'set_config',
  // Run SQL passed as a string, which no classifier can see into.
  'query_to_xml', 'query_to_xmlschema', 'query_to_xml_and_xmlschema', 'cursor_to_xml', 'cursor_to_xmlschema',
];
const POSTGRES_PREFIXES = [
  'dblink', 'pg_advisory', 'pg_try_advisory', 'pg_file_', 'pg_create_', 'pg_stat_reset', 'pg_replication_origin_',
];

const MYSQL_FUNCTIONS = [
  'load_file', 'get_lock', 'release_lock', 'release_all_locks', 'is_free_lock',
  'is_used_lock', 'master_pos_wait', 'source_pos_wait', 'master_gtid_wait', 'wait_for_executed_gtid_set',
  'wait_until_sql_thread_after_gtids', 'nextval', 'setval', 'lastval', 'last_insert_id',
  // lib_mysqludf_sys and friends: shell commands from SQL.
  'sys_exec', 'sys_eval', 'sys_get', 'sys_set', 'lib_mysqludf_sys_info',
];

const SQLITE_FUNCTIONS = [
  'load_extension', 'readfile', 'writefile', 'edit', 'fsdir', 'lsmode', 'fts3_tokenizer', 'sqlite_dbpage',
];

const TRANSACT_SQL_FUNCTIONS = [
  'openrowset', 'openquery', 'opendatasource', 'openxml',
  'fn_xe_file_target_read_file', 'fn_get_audit_file', 'fn_trace_gettable', 'fn_dblog', 'fn_dump_dblog',
];
const TRANSACT_SQL_PREFIXES = ['xp_', 'sp_'];

// T-SQL needs no separator between statements, so `SELECT 1 SHUTDOWN` is two statements there while a parser
// may read SHUTDOWN as a column alias. These reserved statement starters can never be identifiers unquoted.
const TRANSACT_SQL_KEYWORDS = [
  'backup', 'begin', 'break', 'bulk', 'checkpoint', 'close', 'commit', 'continue', 'dbcc', 'deallocate',
  'declare', 'deny', 'disk', 'dump', 'goto', 'if', 'kill', 'lineno', 'load', 'open', 'print', 'raiserror',
  'readtext', 'reconfigure', 'restore', 'return', 'revert', 'rollback', 'save', 'set', 'setuser', 'shutdown',
  'throw', 'tran', 'transaction', 'updatetext', 'use', 'waitfor', 'while', 'writetext',
  // Table hints that take update or exclusive locks.
  'updlock', 'xlock', 'holdlock', 'tablock', 'tablockx', 'paglock',
];

function policy(keywords: string[], functions: string[], functionPrefixes: string[] = []): DialectPolicy {
  return {
    keywords: new Set([...COMMON_KEYWORDS, ...keywords]),
    functions: new Set(functions),
    functionPrefixes,
  };
}

/** The deny-lists of each dialect. */
export const POLICIES: Readonly<Record<SqlDialect, DialectPolicy>> = {
  postgresql: policy(['copy', 'share', 'do', 'listen', 'notify', 'vacuum'], POSTGRES_FUNCTIONS, POSTGRES_PREFIXES),
  mysql: policy(['share', 'handler', 'load', 'lock', 'unlock', 'do'], MYSQL_FUNCTIONS),
  sqlite: policy(['pragma', 'attach', 'detach', 'vacuum', 'reindex'], SQLITE_FUNCTIONS),
  transactsql: policy(TRANSACT_SQL_KEYWORDS, TRANSACT_SQL_FUNCTIONS, TRANSACT_SQL_PREFIXES),
};

/**
 * The form names are compared in: compatibility characters mapped (NFKC), accents dropped and case folded, so
 * that a name an engine would resolve under an accent-, width- or case-insensitive collation matches too.
 */
export function foldName(name: string): string {
  return name.normalize('NFKD').replace(/\p{M}/gu, '').toUpperCase().toLowerCase().normalize('NFKC');
}

/** True if a (folded) name is a denied function of the dialect. */
export function isDeniedFunction(policy: DialectPolicy, folded: string): boolean {
  return policy.functions.has(folded) || policy.functionPrefixes.some((prefix) => folded.startsWith(prefix));
}
