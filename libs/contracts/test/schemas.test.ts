import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LIMITS, QueryCommand, QueryParameter, WireError } from '../src/index.ts';

test('a command gets Halo\'s defaults and refuses fields it does not know', () => {
  assert.deepEqual(QueryCommand.parse({ text: 'SELECT 1' }), { text: 'SELECT 1', type: 'text', executionMode: 'reader', parameters: [] });
  assert.ok(!QueryCommand.safeParse({ text: 'SELECT 1', extra: true }).success, 'strict: unknown keys are an error');
  assert.ok(!QueryCommand.safeParse({ text: '' }).success);
  assert.ok(!QueryCommand.safeParse({ text: 'x'.repeat(LIMITS.maxSqlLength + 1) }).success);
  assert.ok(!QueryCommand.safeParse({ text: 'SELECT 1', executionMode: 'writer' }).success);
});

test('parameters: SqlDbType names, names like @x, string or null values', () => {
  assert.deepEqual(QueryParameter.parse({ name: '@patNum', type: 'Int', value: '7' }), { name: '@patNum', direction: 'input', type: 'Int', value: '7' });
  assert.ok(QueryParameter.safeParse({ name: 'x', type: 'NVarChar', value: null }).success);
  for (const bad of [
    { name: '@1x', type: 'Int', value: '1' },
    { name: '@x;drop', type: 'Int', value: '1' },
    { name: '@x', type: 'int', value: '1' },
    { name: '@x', type: 'Int', value: 1 },
    { name: '@x', type: 'Int', value: '1', direction: 'sideways' },
    { name: '@x', type: 'Variant', value: '1' },
  ]) assert.ok(!QueryParameter.safeParse(bad).success, JSON.stringify(bad));
  // Halo's directions are accepted here (the agent refuses them outside stored procedures); `String` is NVarChar.
  assert.equal(QueryParameter.parse({ name: '@x', type: 'Int', value: null, direction: 'output' }).direction, 'output');
  assert.equal(QueryParameter.parse({ name: '@x', type: 'String', value: 'a' }).type, 'NVarChar');
  for (const type of ['Structured', 'Timestamp', 'Udt', 'Variant']) {
    const refused = QueryParameter.safeParse({ name: '@x', type, value: '1' });
    assert.ok(!refused.success);
    assert.equal(refused.error.issues[0]?.message, `parameter type "${type}" is not supported`);
  }
});

test('wire errors carry only known codes', () => {
  assert.ok(WireError.safeParse({ code: 'site_offline', message: 'm' }).success);
  assert.ok(!WireError.safeParse({ code: 'made_up', message: 'm' }).success);
});
