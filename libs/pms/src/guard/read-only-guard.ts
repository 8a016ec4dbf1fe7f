// Statement classifier for read-only sites: a backstop, never the only layer. The layers that come first are a
// least-privilege database login (SELECT on the PMS tables only) and an engine-level read-only session
// (PostgreSQL `BEGIN READ ONLY`, MySQL/MariaDB `START TRANSACTION READ ONLY`, SQLite `readonly` + query_only);
// this guard refuses, before a statement reaches the engine, anything that is not plainly one SELECT.
// It fails closed: what it cannot read unambiguously is refused. Reasons never quote the statement.
//
// Policy, in order: (1) text over MAX_GUARDED_TEXT, NUL, control/bidi/zero-width characters outside string
// literals, Unicode spaces or NFKC-unstable (full-width, compatibility) characters in code are refused; this is
// normalisation by refusal, so what is judged is exactly what the engine runs. (2) The engine's own lexical rules
// split code, literals, quoted names and comments (lexer.ts); executable /*! */ comments, nested
// comments, MySQL `--x`, PostgreSQL U&"..." and backslashes in non-E strings are refused as ambiguous. (3) At most
// one statement (one trailing `;`); no write/statement keyword (policy.ts) as an unquoted word, no
// denied function name as a word or quoted name, no NEXT VALUE FOR, no MySQL `:=`. (4) node-sql-parser with the
// dialect's grammar must read exactly one SELECT whose tree holds no other statement, INTO, locking clause or
// denied function/source (ast.ts). Delays (pg_sleep, SLEEP, BENCHMARK) are allowed: they write
// nothing, and integrators send SQL directly, so they reveal nothing a timing trick could; the agent's execution
// deadline and concurrency limit bound them (T-SQL's WAITFOR is a statement, refused as such). Known false refusals (rewrite the query): standalone VALUES, SQLite window functions
// without PARTITION BY, PostgreSQL OFFSET ... FETCH, backslashes in MySQL/PostgreSQL string literals, parameters
// or unquoted names equal to a denied word (`@update`), anything else the grammar lacks. Parameters the grammar
// does not take where the engine does (`LIMIT @n`) are read as numbers for the shape check.
import { AppError } from '@halo/contracts';
import { checkSyntaxTree } from './ast.ts';
import { lexStatement } from './lexer.ts';
import type { Segment } from './lexer.ts';
import { foldName, HOST_REASON, isDeniedFunction, isHostIntrospection, POLICIES } from './policy.ts';
import type { DialectPolicy, SqlDialect } from './policy.ts';

export type { SqlDialect } from './policy.ts';

/** The guard's verdict on one statement. */
export type ReadOnlyVerdict = { readOnly: true } | { readOnly: false; reason: string };

/** Longer texts are refused rather than handed to a backtracking parser. */
export const MAX_GUARDED_TEXT = 100_000;

// Outside string literals (code, quoted identifiers and comments): control characters other than tab, CR and
// LF, format characters (bidi overrides, zero-width spaces and joiners, BOM, soft hyphen) and line separators.
const HIDDEN = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\p{Cf}\u2028\u2029]/u;
// In code and identifiers, any space but U+0020, tab, CR and LF: engines disagree on which count as whitespace.
const ODD_SPACE = /(?! )\p{Z}/u;
const WORD = /[\p{L}\p{N}_$]+/gu;

/**
 * Classifies one statement for a read-only site: readOnly only for exactly one SELECT (WITH ... SELECT, UNION,
 * subqueries, VALUES inside FROM) that neither writes, locks, selects INTO, executes procedures nor calls a
 * function the dialect's deny-list holds. Unparseable or ambiguous text is refused.
 */
export function classifyStatement(text: string, dialect: SqlDialect): ReadOnlyVerdict {
  // Integrators send the same statements again and again with new parameter values: parsing once per text is
  // enough (the verdict depends only on the text and the dialect).
  const key = `${dialect}\u0000${text}`;
  const known = verdicts.get(key);
  if (known) return known;
  const verdict = classify(text, dialect);
  if (typeof text === 'string' && text.length <= MAX_CACHED_TEXT) {
    if (verdicts.size >= MAX_CACHED_VERDICTS) verdicts.delete(verdicts.keys().next().value!);
    verdicts.set(key, verdict);
  }
  return verdict;
}

const MAX_CACHED_VERDICTS = 2_000;
const MAX_CACHED_TEXT = 8_192;
const verdicts = new Map<string, ReadOnlyVerdict>();

function classify(text: string, dialect: SqlDialect): ReadOnlyVerdict {
  const policy = POLICIES[dialect];
  if (policy === undefined) return refuse('unknown SQL dialect');
  if (typeof text !== 'string' || text.trim() === '') return refuse('the statement is empty');
  if (text.length > MAX_GUARDED_TEXT) return refuse(`statements longer than ${MAX_GUARDED_TEXT} characters are refused`);
  if (text.includes('\u0000')) return refuse('NUL characters are refused');
  const lexed = lexStatement(text, dialect);
  if (!lexed.ok) return refuse(lexed.reason);
  const reason = checkCharacters(lexed.segments) ?? checkStatementCount(lexed.segments)
    ?? checkWords(lexed.segments, dialect, policy) ?? checkSyntaxTree(text, dialect, policy);
  return reason === undefined ? { readOnly: true } : refuse(reason);
}

/** Throws AppError('writes_disabled') unless classifyStatement judges the statement read-only. */
export function assertReadOnly(text: string, dialect: SqlDialect): void {
  const verdict = classifyStatement(text, dialect);
  if (!verdict.readOnly) throw new AppError('writes_disabled', `refused by the read-only guard: ${verdict.reason}`);
}

function refuse(reason: string): ReadOnlyVerdict {
  return { readOnly: false, reason };
}

// Code must be stable under NFKC: full-width and other compatibility letters are what an engine comparing names
// under a width-insensitive collation (SQL Server's defaults) could resolve to a denied name; a legitimate
// statement never needs them outside literals and comments.
function checkCharacters(segments: readonly Segment[]): string | undefined {
  for (const segment of segments) {
    if (segment.kind === 'string') continue;
    if (HIDDEN.test(segment.text)) return 'control, bidi or zero-width characters outside string literals are refused';
    if (segment.kind === 'comment') continue;
    if (ODD_SPACE.test(segment.text)) return 'Unicode spaces outside string literals are refused';
    if (segment.text.normalize('NFKC') !== segment.text) {
      return 'full-width or compatibility characters outside string literals are refused';
    }
  }
  return undefined;
}

// One statement, with at most one trailing semicolon. Engines that run several statements per call (PostgreSQL's
// simple protocol, MySQL with multipleStatements, SQL Server batches) must never see a second one.
function checkStatementCount(segments: readonly Segment[]): string | undefined {
  const code = segments.filter((segment) => segment.kind === 'code').map((segment) => segment.text).join(' ').trim();
  const semicolon = code.indexOf(';');
  if (semicolon !== -1 && semicolon !== code.length - 1) return 'exactly one statement is allowed';
  return undefined;
}

function checkWords(segments: readonly Segment[], dialect: SqlDialect, policy: DialectPolicy): string | undefined {
  const words: string[] = [];
  for (const segment of segments) {
    if (segment.kind === 'identifier') {
      if (isDeniedFunction(policy, foldName(segment.text))) return 'the statement names a function that is refused for read-only use';
      if (isHostIntrospection(policy, foldName(segment.text))) return HOST_REASON;
      words.push('"');
    } else if (segment.kind === 'code') {
      if (dialect === 'mysql' && segment.text.includes(':=')) return 'variable assignments are refused';
      if (policy.host.serverVariables && segment.text.includes('@@')) return HOST_REASON;
      for (const word of segment.text.match(WORD) ?? []) {
        const folded = foldName(word);
        if (policy.keywords.has(folded)) return 'the statement contains a keyword that writes, locks or runs another statement';
        if (isDeniedFunction(policy, folded)) return 'the statement names a function that is refused for read-only use';
        if (isHostIntrospection(policy, folded)) return HOST_REASON;
        words.push(folded);
      }
    }
  }
  // Sequences advance with NEXT VALUE FOR in SQL Server and MariaDB.
  for (let i = 0; i + 2 < words.length; i += 1) {
    if (words[i] === 'next' && words[i + 1] === 'value' && words[i + 2] === 'for') return 'sequences cannot be advanced';
  }
  return undefined;
}
