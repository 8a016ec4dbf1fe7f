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
  /** Functions, views and tables that reveal the server's host: file paths, addresses, settings, other sessions. */
  readonly host: HostPolicy;
}

/** Host introspection of one dialect: names and prefixes refused, and the few schema listings allowed. */
export interface HostPolicy {
  readonly names: ReadonlySet<string>;
  readonly prefixes: readonly string[];
  /** Names matching a prefix that are allowed: the table and column lists integrators need. */
  readonly allowed: ReadonlySet<string>;
  /** Server variables (`@@name`) are refused: MySQL's and SQL Server's hold paths, host names and ports. */
  readonly serverVariables: boolean;
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

// Host introspection: what a read-only login can still learn about the practice server itself (the database
// file's absolute path, data directories, addresses, settings, other sessions). Integrators need the schema
// (tables and columns), which stays readable: information_schema.tables / columns on the server engines, and on
// SQLite sqlite_schema plus the pragma functions in SQLITE_SCHEMA_PRAGMAS.
const POSTGRES_HOST = [
  'inet_server_addr', 'inet_server_port', 'inet_client_addr', 'inet_client_port', 'current_setting',
  'pg_settings', 'pg_show_all_settings', 'pg_file_settings', 'pg_show_all_file_settings', 'pg_hba_file_rules',
  'pg_ident_file_mappings', 'pg_config', 'pg_current_logfile', 'pg_tablespace_location', 'pg_relation_filepath',
  'pg_postmaster_start_time', 'pg_conf_load_time', 'pg_stat_activity', 'pg_stat_get_activity', 'pg_stat_ssl',
  'pg_stat_gssapi', 'pg_stat_replication', 'pg_stat_wal_receiver', 'pg_stat_subscription', 'pg_replication_slots',
  'pg_shmem_allocations', 'pg_backend_memory_contexts', 'pg_get_backend_memory_contexts',
];
const POSTGRES_HOST_PREFIXES = ['pg_ls_', 'pg_control_', 'pg_read_'];
const MYSQL_HOST = [
  'global_variables', 'session_variables', 'system_variables', 'global_status', 'session_status', 'processlist',
  'user_variables', 'innodb_sys_tablespaces', 'innodb_sys_datafiles', 'performance_schema',
];
const SQLITE_HOST = ['sqlite_compileoption_get', 'sqlite_compileoption_used'];
/** The pragma functions that list the schema; every other pragma_* (database_list, compile_options, ...) is refused. */
export const SQLITE_SCHEMA_PRAGMAS = [
  'pragma_table_list', 'pragma_table_info', 'pragma_table_xinfo', 'pragma_index_list', 'pragma_index_info',
  'pragma_index_xinfo', 'pragma_foreign_key_list',
];
const TRANSACT_SQL_HOST = ['serverproperty', 'master_files', 'database_files', 'sysaltfiles', 'sysfiles'];
const TRANSACT_SQL_HOST_PREFIXES = ['dm_os_', 'dm_server_', 'dm_exec_'];

function host(names: string[], prefixes: string[], options: { allowed?: string[]; serverVariables?: boolean } = {}): HostPolicy {
  return { names: new Set(names), prefixes, allowed: new Set(options.allowed), serverVariables: options.serverVariables === true };
}

function policy(keywords: string[], functions: string[], functionPrefixes: string[], hostPolicy: HostPolicy): DialectPolicy {
  return {
    keywords: new Set([...COMMON_KEYWORDS, ...keywords]),
    functions: new Set(functions),
    functionPrefixes,
    host: hostPolicy,
  };
}

/** The deny-lists of each dialect. */
export const POLICIES: Readonly<Record<SqlDialect, DialectPolicy>> = {
  postgresql: policy(['copy', 'share', 'do', 'listen', 'notify', 'vacuum'], POSTGRES_FUNCTIONS, POSTGRES_PREFIXES, host(POSTGRES_HOST, POSTGRES_HOST_PREFIXES)),
  mysql: policy(['share', 'handler', 'load', 'lock', 'unlock', 'do'], MYSQL_FUNCTIONS, [], host(MYSQL_HOST, [], { serverVariables: true })),
  sqlite: policy(['pragma', 'attach', 'detach', 'vacuum', 'reindex'], SQLITE_FUNCTIONS, [], host(SQLITE_HOST, ['pragma_'], { allowed: SQLITE_SCHEMA_PRAGMAS })),
  transactsql: policy(TRANSACT_SQL_KEYWORDS, TRANSACT_SQL_FUNCTIONS, TRANSACT_SQL_PREFIXES, host(TRANSACT_SQL_HOST, TRANSACT_SQL_HOST_PREFIXES, { serverVariables: true })),
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

/** True if a (folded) name reads the server's host rather than the database's schema or rows. */
export function isHostIntrospection(policy: DialectPolicy, folded: string): boolean {
  const { names, prefixes, allowed } = policy.host;
  return names.has(folded) || (prefixes.some((prefix) => folded.startsWith(prefix)) && !allowed.has(folded));
}

/** Why host introspection is refused; the same words for every dialect. */
export const HOST_REASON = 'the statement reads the database server\'s host, files or settings, which is refused (table and column lists stay readable)';
