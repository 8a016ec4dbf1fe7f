// The parser half of the read-only guard: node-sql-parser, with the engine's grammar, must read the text as
// exactly one SELECT whose tree holds no statement of another kind, no INTO, no locking clause and no denied
// function or table-valued source anywhere (CTEs, subqueries, set operations, joins included).
import { createRequire } from 'node:module';
import { foldName, HOST_REASON, isDeniedFunction, isHostIntrospection } from './policy.ts';
import type { DialectPolicy, SqlDialect } from './policy.ts';

interface SqlParser {
  astify(text: string, options: { database: string }): unknown;
}

// Each grammar is ~300 KB of generated code: loaded on first use, one dialect at a time.
const require = createRequire(import.meta.url);
const parsers = new Map<SqlDialect, SqlParser>();

function parserFor(dialect: SqlDialect): SqlParser {
  let parser = parsers.get(dialect);
  if (!parser) {
    const module = require(`node-sql-parser/build/${dialect}.js`) as { Parser: new () => SqlParser };
    parser = new module.Parser();
    parsers.set(dialect, parser);
  }
  return parser;
}

// Node types node-sql-parser gives statements other than SELECT (and a few it might in future versions).
const STATEMENT_TYPES = new Set([
  'insert', 'update', 'delete', 'replace', 'merge', 'upsert', 'create', 'drop', 'alter', 'truncate', 'rename',
  'grant', 'revoke', 'exec', 'execute', 'call', 'set', 'lock', 'unlock', 'use', 'declare', 'transaction', 'show',
  'describe', 'explain', 'load_data', 'load', 'copy', 'do', 'handler', 'attach', 'detach', 'pragma', 'vacuum',
  'analyze', 'if', 'go', 'return', 'raise', 'comment', 'deallocate', 'prepare', 'proc', 'procedure',
]);
/** An integrator's named parameter (`@x`), not a T-SQL `@@global`. */
const PARAMETER = /(?<![@\w])@[A-Za-z_][A-Za-z0-9_]*/g;

const FUNCTION_TYPES = new Set(['function', 'aggr_func', 'window_func']);

/** Undefined if the parser reads the text as one harmless SELECT; otherwise why not. */
export function checkSyntaxTree(text: string, dialect: SqlDialect, policy: DialectPolicy): string | undefined {
  let tree: unknown;
  try {
    tree = parserFor(dialect).astify(text, { database: dialect });
  } catch {
    // The parser's grammars do not take parameters everywhere engines do (`LIMIT @n`, `TOP (@n)`): read it
    // again with each parameter as a number. Only the shape is judged here; the word checks saw the original.
    try {
      tree = parserFor(dialect).astify(text.replace(PARAMETER, '1'), { database: dialect });
    } catch {
      return 'the statement could not be parsed; the guard refuses what it cannot read';
    }
  }
  const statements = (Array.isArray(tree) ? tree : [tree]).filter((statement) => statement != null);
  if (statements.length !== 1) return 'exactly one statement is allowed';
  const root = statements[0] as Record<string, unknown>;
  if (root.type !== 'select') return 'only SELECT statements are allowed';
  return findWrite(root, policy);
}

function findWrite(root: unknown, policy: DialectPolicy): string | undefined {
  const pending: unknown[] = [root];
  while (pending.length > 0) {
    const node = pending.pop();
    if (Array.isArray(node)) {
      pending.push(...node);
      continue;
    }
    if (node === null || typeof node !== 'object') continue;
    const record = node as Record<string, unknown>;
    const reason = nodeReason(record, policy);
    if (reason) return reason;
    pending.push(...Object.values(record));
  }
  return undefined;
}

function nodeReason(node: Record<string, unknown>, policy: DialectPolicy): string | undefined {
  const type = typeof node.type === 'string' ? node.type.toLowerCase() : undefined;
  if (type !== undefined && STATEMENT_TYPES.has(type)) return 'the statement contains a write or another statement';
  if (type === 'select') {
    if (selectsInto(node.into)) return 'SELECT ... INTO is refused';
    if (node.locking_read != null || node.for_update != null || node.lock != null) return 'locking reads are refused';
  }
  if (type !== undefined && FUNCTION_TYPES.has(type) && namesOf(node.name).some((name) => isDeniedFunction(policy, foldName(name)))) {
    return 'the statement calls a function that is refused for read-only use';
  }
  if (typeof node.table === 'string' && isDeniedFunction(policy, foldName(node.table))) {
    return 'the statement reads from a source that is refused for read-only use';
  }
  if (type !== undefined && FUNCTION_TYPES.has(type) && namesOf(node.name).some((name) => isHostIntrospection(policy, foldName(name)))) return HOST_REASON;
  if (typeof node.table === 'string' && isHostIntrospection(policy, foldName(node.table))) return HOST_REASON;
  return undefined;
}

function selectsInto(into: unknown): boolean {
  if (into === null || into === undefined) return false;
  if (typeof into !== 'object') return true;
  return Object.values(into).some((value) => value !== null && value !== undefined);
}

/** Every string in a function's name node (schema, package and function parts alike). */
function namesOf(name: unknown): string[] {
  if (typeof name === 'string') return [name];
  if (Array.isArray(name)) return name.flatMap(namesOf);
  if (name !== null && typeof name === 'object') return Object.values(name).flatMap(namesOf);
  return [];
}
