import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AppError } from '@halo/contracts';
import { assertReadOnly, classifyStatement, MAX_GUARDED_TEXT } from '@halo/pms';
import type { SqlDialect } from '@halo/pms';
import { checkSyntaxTree } from '../src/guard/ast.ts';
import { POLICIES } from '../src/guard/policy.ts';
import { BYPASS_ATTEMPTS, LEGIT_QUERIES } from './fixtures/bypass-corpus.ts';
import type { BypassCategory } from './fixtures/bypass-corpus.ts';

const DIALECTS: readonly SqlDialect[] = ['sqlite', 'postgresql', 'mysql', 'transactsql'];
// Words of the canary schema and paths: a reason quoting the statement would contain one.
const STATEMENT_WORDS = /patient|appointment|canary|halo|\/tmp|pwned|whoami/i;

test('the corpus covers every category with enough attempts and legitimate reads', () => {
  assert.ok(BYPASS_ATTEMPTS.length >= 60, `${BYPASS_ATTEMPTS.length} attempts`);
  assert.ok(LEGIT_QUERIES.length >= 20, `${LEGIT_QUERIES.length} legitimate queries`);
  const categories: BypassCategory[] = ['stacked', 'dml-ddl', 'cte-dml', 'select-into', 'locking', 'exec',
    'external-data', 'side-effect-function', 'comment', 'unicode', 'session', 'host-introspection'];
  for (const category of categories) assert.ok(BYPASS_ATTEMPTS.some((a) => a.category === category), category);
  for (const dialect of DIALECTS) assert.ok(BYPASS_ATTEMPTS.some((a) => a.dialects.includes(dialect)), dialect);
});

for (const dialect of DIALECTS) {
  test(`${dialect}: every bypass attempt is refused, with a reason that does not quote it`, () => {
    for (const attempt of BYPASS_ATTEMPTS.filter((a) => a.dialects.includes(dialect))) {
      const verdict = classifyStatement(attempt.text, dialect);
      assert.equal(verdict.readOnly, false, `${attempt.category}: ${attempt.name}`);
      if (!verdict.readOnly) assert.doesNotMatch(verdict.reason, STATEMENT_WORDS, attempt.name);
    }
  });

  test(`${dialect}: every legitimate read is allowed`, () => {
    for (const query of LEGIT_QUERIES.filter((q) => q.dialects.includes(dialect))) {
      assert.deepEqual(classifyStatement(query.text, dialect), { readOnly: true }, query.name);
    }
  });
}

test('assertReadOnly throws writes_disabled without the SQL text, and passes reads', () => {
  assert.doesNotThrow(() => assertReadOnly('SELECT LName FROM patient', 'postgresql'));
  assert.throws(() => assertReadOnly("SELECT pg_read_file('/etc/hostname')", 'postgresql'), (error: unknown) => {
    assert.ok(error instanceof AppError);
    assert.equal(error.code, 'writes_disabled');
    assert.equal(error.status, 403);
    assert.doesNotMatch(error.message, /pg_read_file|hostname/);
    return true;
  });
});

test('the parser layer alone also refuses writes hidden inside a SELECT', () => {
  // The lexical checks would refuse these first; the syntax tree must not depend on them.
  const cases: [string, SqlDialect][] = [
    ['WITH gone AS (DELETE FROM appointment RETURNING AptNum) SELECT count(*) FROM gone', 'postgresql'],
    ['SELECT * INTO pwned FROM patient', 'postgresql'],
    ["SELECT * FROM patient INTO OUTFILE '/tmp/x'", 'mysql'],
    ['SELECT * FROM patient FOR UPDATE', 'mysql'],
    ['SELECT * FROM patient LOCK IN SHARE MODE', 'mysql'],
    ["SELECT (SELECT nextval('canary_seq')) AS n", 'postgresql'],
    ["SELECT * FROM OPENROWSET('a', 'b', 'c')", 'transactsql'],
    ["SELECT load_extension('x')", 'sqlite'],
    ['SELECT 1; DELETE FROM appointment', 'sqlite'],
    ['DELETE FROM appointment', 'transactsql'],
    ['SELECT 1 FROM', 'postgresql'],
  ];
  for (const [text, dialect] of cases) assert.notEqual(checkSyntaxTree(text, dialect, POLICIES[dialect]), undefined, text);
  assert.equal(checkSyntaxTree('SELECT LName FROM patient WHERE PatNum = @patNum', 'postgresql', POLICIES.postgresql), undefined);
});

test('empty, oversized, unknown-dialect and deeply nested texts are refused', () => {
  assert.equal(classifyStatement('  ', 'sqlite').readOnly, false);
  assert.equal(classifyStatement(`SELECT '${'x'.repeat(MAX_GUARDED_TEXT)}'`, 'sqlite').readOnly, false);
  assert.equal(classifyStatement('SELECT 1', 'oracle' as SqlDialect).readOnly, false);
  // A parser that overflows its stack refuses; it must not throw.
  assert.equal(classifyStatement(`SELECT ${'('.repeat(5000)}1${')'.repeat(5000)}`, 'postgresql').readOnly, false);
});

test('known false refusals: valid reads the parsers cannot read are refused, never guessed at', () => {
  // Listed in read-only-guard.ts; a query can be rewritten around each.
  const refused: [string, SqlDialect][] = [
    ['VALUES (1), (2)', 'postgresql'],
    ['SELECT PatNum, rank() OVER (ORDER BY LName) AS r FROM patient', 'sqlite'],
    ['SELECT LName FROM patient ORDER BY LName OFFSET 1 ROWS FETCH NEXT 10 ROWS ONLY', 'postgresql'],
    ["SELECT LName FROM patient WHERE LName LIKE 'a\\_%'", 'mysql'],
    ['SELECT LName AS "update" FROM patient WHERE @update = 1', 'postgresql'],
  ];
  for (const [text, dialect] of refused) assert.equal(classifyStatement(text, dialect).readOnly, false, text);
});

test('classifying the whole corpus stays fast', () => {
  const started = performance.now();
  let statements = 0;
  for (const attempt of BYPASS_ATTEMPTS) for (const dialect of attempt.dialects) { classifyStatement(attempt.text, dialect); statements += 1; }
  for (const query of LEGIT_QUERIES) for (const dialect of query.dialects) { classifyStatement(query.text, dialect); statements += 1; }
  const ms = performance.now() - started;
  assert.ok(ms < statements * 20, `${statements} statements took ${Math.round(ms)} ms`);
});
