// Integrators write SQL Server style `@name` parameters whatever the engine. PostgreSQL wants `$1..$n` and
// MySQL `?`, so the text is scanned once and each `@name` outside string literals, quoted identifiers and
// comments becomes the engine's placeholder. The scanner knows only what it must skip; it does not parse SQL.
import { AppError } from '@halo/contracts';

/** Which placeholder syntax and which quoting rules apply. */
export type PlaceholderDialect = 'postgres' | 'mysql';

/** The text with engine placeholders, and the parameter name (bare, no `@`) behind each placeholder in order. */
export interface TranslatedText {
  text: string;
  /** postgres: one entry per distinct name ($1 is names[0]); mysql: one entry per `?`. */
  names: string[];
}

const IDENTIFIER_START = /[\p{L}_]/u;
const IDENTIFIER_PART = /[\p{L}\p{N}_$]/u;
const DOLLAR_TAG = /^\$(?:[A-Za-z_\u0080-\uffff][A-Za-z0-9_\u0080-\uffff]*)?\$/;

/**
 * Replaces `@name` parameters with `$n` (postgres) or `?` (mysql). Leaves alone: string literals (PostgreSQL
 * '...', E'...', $tag$...$tag$; MySQL '...' and "..." with backslash escapes), quoted identifiers ("..." on
 * PostgreSQL, `...` on MySQL), comments (--, /* *\/ nested on PostgreSQL, # on MySQL) and MySQL `@@variables`.
 * Placeholders already in the text (`$1` on PostgreSQL, `?` on MySQL) are refused with bad_request: every value
 * must arrive by name.
 */
export function translatePlaceholders(sql: string, dialect: PlaceholderDialect): TranslatedText {
  const names: string[] = [];
  const numbers = new Map<string, number>();
  const text = rewriteParameters(sql, dialect, (name) => {
    if (dialect === 'mysql') {
      names.push(name);
      return '?';
    }
    let number = numbers.get(name);
    if (number === undefined) {
      names.push(name);
      number = names.length;
      numbers.set(name, number);
    }
    return `$${number}`;
  });
  return { text, names };
}

/** Replaces every `@name` parameter (as translatePlaceholders finds them) with `render(name)`. */
export function rewriteParameters(sql: string, dialect: PlaceholderDialect, render: (name: string) => string): string {
  const mysql = dialect === 'mysql';
  let out = '';
  let copied = 0;
  let i = 0;
  const length = sql.length;
  const previousIsIdentifier = () => i > 0 && IDENTIFIER_PART.test(sql[i - 1] ?? '');

  while (i < length) {
    const ch = sql[i] ?? '';
    const next = sql[i + 1] ?? '';
    if (ch === "'") {
      // E'...' (PostgreSQL) takes backslash escapes; MySQL strings always do (unless NO_BACKSLASH_ESCAPES).
      const escaped = mysql || ((sql[i - 1] === 'E' || sql[i - 1] === 'e') && !(i > 1 && IDENTIFIER_PART.test(sql[i - 2] ?? '')));
      i = skipQuoted(sql, i, "'", escaped);
    } else if (ch === '"') {
      i = skipQuoted(sql, i, '"', mysql);
    } else if (ch === '`' && mysql) {
      i = skipQuoted(sql, i, '`', false);
    } else if (ch === '-' && next === '-' && (!mysql || /\s/.test(sql[i + 2] ?? ' '))) {
      const end = sql.indexOf('\n', i);
      i = end === -1 ? length : end + 1;
    } else if (ch === '#' && mysql) {
      const end = sql.indexOf('\n', i);
      i = end === -1 ? length : end + 1;
    } else if (ch === '/' && next === '*') {
      i = skipBlockComment(sql, i, !mysql);
    } else if (ch === '$' && !mysql && !previousIsIdentifier()) {
      const tag = DOLLAR_TAG.exec(sql.slice(i, i + 66))?.[0];
      if (tag) {
        const end = sql.indexOf(tag, i + tag.length);
        i = end === -1 ? length : end + tag.length;
      } else if (/\d/.test(next)) {
        throw new AppError('bad_request', 'positional parameters ($1) are not accepted; name them, e.g. @patNum');
      } else {
        i += 1;
      }
    } else if (ch === '?' && mysql) {
      throw new AppError('bad_request', 'positional parameters (?) are not accepted; name them, e.g. @patNum');
    } else if (ch === '@') {
      if (mysql && next === '@') {
        // @@session.var: a system variable, never a parameter.
        i += 2;
        while (i < length && /[\p{L}\p{N}_$.]/u.test(sql[i] ?? '')) i += 1;
        continue;
      }
      if (!IDENTIFIER_START.test(next) || previousIsIdentifier()) {
        i += 1;
        continue;
      }
      let end = i + 1;
      while (end < length && IDENTIFIER_PART.test(sql[end] ?? '') && sql[end] !== '$') end += 1;
      out += sql.slice(copied, i) + render(sql.slice(i + 1, end));
      copied = end;
      i = end;
    } else {
      i += 1;
    }
  }
  return out + sql.slice(copied);
}

/** Index just past a quoted run opened at `start`; a doubled quote (and, if `backslash`, \x) stays inside. */
function skipQuoted(sql: string, start: number, quote: string, backslash: boolean): number {
  let i = start + 1;
  while (i < sql.length) {
    const ch = sql[i];
    if (backslash && ch === '\\') {
      i += 2;
    } else if (ch === quote) {
      if (sql[i + 1] === quote) i += 2;
      else return i + 1;
    } else {
      i += 1;
    }
  }
  return sql.length;
}

/** Index just past a block comment opened at `start`; PostgreSQL nests them, MySQL does not. */
function skipBlockComment(sql: string, start: number, nested: boolean): number {
  let depth = 0;
  let i = start;
  while (i < sql.length) {
    if (sql[i] === '/' && sql[i + 1] === '*') {
      depth = nested ? depth + 1 : 1;
      i += 2;
    } else if (sql[i] === '*' && sql[i + 1] === '/') {
      depth -= 1;
      i += 2;
      if (depth === 0) return i;
    } else {
      i += 1;
    }
  }
  return sql.length;
}
