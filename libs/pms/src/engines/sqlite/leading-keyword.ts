// SQLite carries out some statements while merely preparing them: a flag PRAGMA such as `query_only = OFF`
// changes the connection as soon as it is compiled, before any read-only check on the prepared statement
// can refuse it. So such statements are recognised from their text and refused before prepare.

const SPACE_OR_COMMENT = /^(?:\s+|--[^\n]*(?:\n|$)|\/\*[\s\S]*?(?:\*\/|$))*/;
const WORD = /^[A-Za-z]+/;

/** The first keyword of a statement, upper-case, after comments and any EXPLAIN [QUERY PLAN] prefix. */
export function leadingKeyword(text: string): string {
  let rest = text;
  for (;;) {
    rest = rest.replace(SPACE_OR_COMMENT, '');
    const word = WORD.exec(rest)?.[0]?.toUpperCase() ?? '';
    if (word !== 'EXPLAIN' && word !== 'QUERY' && word !== 'PLAN') return word;
    rest = rest.slice(word.length);
  }
}
