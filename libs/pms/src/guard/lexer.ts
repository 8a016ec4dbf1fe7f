// The read-only guard's own reading of a statement, following each engine's lexical rules rather than the
// parser's: which characters are code, string literals, quoted identifiers or comments. Where an engine's
// reading depends on server settings or differs from what a parser might assume (MySQL's `--x`, executable
// `/*! */` comments, nested comments, backslashes in strings), the statement is refused instead of guessed at.
import type { SqlDialect } from './policy.ts';

/** One stretch of a statement as the engine reads it. */
export interface Segment {
  readonly kind: 'code' | 'string' | 'identifier' | 'comment';
  /** For identifiers and strings, the content without quotes (escapes left as written). */
  readonly text: string;
}

/** The statement split into segments, or the reason it cannot be read unambiguously. */
export type Lexed = { ok: true; segments: Segment[] } | { ok: false; reason: string };

const WORD_CHAR = /[\p{L}\p{N}_$]/u;
const DOLLAR_TAG = /^\$([A-Za-z_\u0080-\uFFFF][A-Za-z0-9_\u0080-\uFFFF]*)?\$/u;

class Refusal extends Error {}

/** Splits a statement per the dialect's lexical rules; refuses constructs engines may read differently. */
export function lexStatement(text: string, dialect: SqlDialect): Lexed {
  try {
    return { ok: true, segments: lex(text, dialect) };
  } catch (error) {
    if (error instanceof Refusal) return { ok: false, reason: error.message };
    throw error;
  }
}

function lex(text: string, dialect: SqlDialect): Segment[] {
  const segments: Segment[] = [];
  let code = '';
  const flush = () => {
    if (code !== '') segments.push({ kind: 'code', text: code });
    code = '';
  };
  let i = 0;
  while (i < text.length) {
    const c = text[i] as string;
    const next = text[i + 1] ?? '';
    const previous = text[i - 1] ?? '';
    if (c === '-' && next === '-') {
      // MySQL and MariaDB start a comment only at `-- ` followed by a space or control character: `1--sleep(1)`
      // is arithmetic there, while parsers tend to skip it as a comment.
      const after = text[i + 2];
      if (dialect === 'mysql' && after !== undefined && !/[\s\x00-\x1f]/.test(after)) {
        throw new Refusal('a "--" not followed by a space is read differently by MySQL and parsers');
      }
      flush();
      const end = text.indexOf('\n', i);
      const stop = end === -1 ? text.length : end;
      segments.push({ kind: 'comment', text: text.slice(i + 2, stop) });
      i = stop;
    } else if (c === '#' && dialect === 'mysql') {
      flush();
      const end = text.indexOf('\n', i);
      const stop = end === -1 ? text.length : end;
      segments.push({ kind: 'comment', text: text.slice(i + 1, stop) });
      i = stop;
    } else if (c === '/' && next === '*') {
      flush();
      const after = text.slice(i + 2, i + 4);
      if (after.startsWith('!') || /^M!/i.test(after)) {
        throw new Refusal('executable comments (/*! ... */) are refused');
      }
      if (dialect === 'mysql' && after.startsWith('+')) throw new Refusal('optimizer hint comments are refused');
      const end = text.indexOf('*/', i + 2);
      if (end === -1) throw new Refusal('a comment is not closed');
      const body = text.slice(i + 2, end);
      // PostgreSQL and SQL Server nest block comments, MySQL and SQLite do not: refuse what they would disagree on.
      if (body.includes('/*')) throw new Refusal('nested comments are refused');
      segments.push({ kind: 'comment', text: body });
      i = end + 2;
    } else if (c === "'") {
      flush();
      const escapes = dialect === 'postgresql' && /[eE]/.test(previous) && !WORD_CHAR.test(text[i - 2] ?? '');
      if (dialect === 'postgresql' && /[uU]/.test(text[i - 2] ?? '') && previous === '&') {
        throw new Refusal('Unicode-escaped strings (U&\'...\') are refused');
      }
      const [body, end] = quoted(text, i, "'", escapes);
      // Outside E'' strings a backslash escapes or not depending on server settings (MySQL's sql_mode,
      // PostgreSQL's standard_conforming_strings), so where the literal ends would be a guess.
      if (!escapes && (dialect === 'mysql' || dialect === 'postgresql') && body.includes('\\')) {
        throw new Refusal('backslashes in string literals are refused: their meaning depends on server settings');
      }
      segments.push({ kind: 'string', text: body });
      i = end;
    } else if (c === '"') {
      flush();
      if (dialect === 'postgresql' && previous === '&' && /[uU]/.test(text[i - 2] ?? '')) {
        throw new Refusal('Unicode-escaped identifiers (U&"...") are refused');
      }
      const [body, end] = quoted(text, i, '"', false);
      if (dialect === 'mysql') {
        // A string by default, an identifier under ANSI_QUOTES: checked as both.
        if (body.includes('\\')) throw new Refusal('backslashes in string literals are refused: their meaning depends on server settings');
        segments.push({ kind: 'identifier', text: body });
      } else {
        segments.push({ kind: 'identifier', text: body });
      }
      i = end;
    } else if (c === '`' && (dialect === 'mysql' || dialect === 'sqlite')) {
      flush();
      const [body, end] = quoted(text, i, '`', false);
      segments.push({ kind: 'identifier', text: body });
      i = end;
    } else if (c === '[' && (dialect === 'transactsql' || dialect === 'sqlite')) {
      flush();
      const [body, end] = quoted(text, i, ']', false);
      segments.push({ kind: 'identifier', text: body });
      i = end;
    } else if (c === '$' && dialect === 'postgresql' && !WORD_CHAR.test(previous)) {
      const tag = DOLLAR_TAG.exec(text.slice(i))?.[0];
      if (tag === undefined) {
        code += c;
        i += 1;
        continue;
      }
      flush();
      const end = text.indexOf(tag, i + tag.length);
      if (end === -1) throw new Refusal('a dollar-quoted string is not closed');
      segments.push({ kind: 'string', text: text.slice(i + tag.length, end) });
      i = end + tag.length;
    } else {
      code += c;
      i += 1;
    }
  }
  flush();
  return segments;
}

/** The body of a quoted token starting at `start` (doubled closers are escapes) and the index after it. */
function quoted(text: string, start: number, close: string, backslashEscapes: boolean): [string, number] {
  let i = start + 1;
  while (i < text.length) {
    const c = text[i];
    if (backslashEscapes && c === '\\') {
      i += 2;
    } else if (c === close) {
      if (text[i + 1] === close) i += 2;
      else return [text.slice(start + 1, i), i + 1];
    } else {
      i += 1;
    }
  }
  throw new Refusal('a quoted string or identifier is not closed');
}
