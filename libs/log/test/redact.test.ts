// The redactor is the backstop that keeps query text, parameters, rows and secrets out of log lines.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { CENSOR, createRedactor } from '../src/redact.ts';
import { createLogger, REDACTED_KEYS } from '../src/index.ts';

const redact = createRedactor({ keys: ['sql', 'token'], depth: 2, paths: [['req', 'headers', 'authorization']], skip: 'err' });

test('censors listed keys at the top level and up to `depth` levels below, not deeper', () => {
  const out = redact({ sql: 'SELECT 1', a: { sql: 'x', b: { token: 't', c: { sql: 'deep' } } }, keep: 1 }) as any;
  assert.equal(out.sql, CENSOR);
  assert.equal(out.a.sql, CENSOR);
  assert.equal(out.a.b.token, CENSOR);
  assert.equal(out.a.b.c.sql, 'deep', 'three levels below the top is past depth 2');
  assert.equal(out.keep, 1);
});

test('never changes the caller\'s object and copies only what it censors', () => {
  const untouched = { x: { y: 1 } };
  const input = { sql: 'SELECT secret', untouched, list: [{ token: 'abc' }] };
  const out = redact(input) as any;
  assert.equal(input.sql, 'SELECT secret');
  assert.equal(input.list[0]!.token, 'abc');
  assert.equal(out.untouched, untouched, 'a branch with nothing to censor is shared, not copied');
  assert.ok(Array.isArray(out.list));
  assert.equal(out.list[0].token, CENSOR);
  const clean = { a: 1, b: { c: 2 } };
  assert.equal(redact(clean), clean, 'an object with nothing to censor is returned as is');
});

test('exact paths are censored; the skipped key and inherited properties are left alone', () => {
  const out = redact({ req: { headers: { authorization: 'Bearer x', host: 'h' } }, err: { sql: 'kept for the serializer' } }) as any;
  assert.equal(out.req.headers.authorization, CENSOR);
  assert.equal(out.req.headers.host, 'h');
  assert.equal(out.err.sql, 'kept for the serializer');
  const proto = { sql: 'inherited' };
  const child = Object.create(proto) as Record<string, unknown>;
  child.other = 1;
  assert.equal(redact(child), child);
});

test('a property named like a censored key but set through a setter on the prototype is still censored', () => {
  class Tricky { set sql(_v: string) { throw new Error('setter must not run'); } }
  const value = Object.assign(Object.create(Tricky.prototype) as object, {});
  Object.defineProperty(value, 'sql', { value: 'SELECT 1', enumerable: true });
  const out = redact(value) as any;
  assert.equal(out.sql, CENSOR);
});

test('a real logger writes no censored values, in bindings, children or serialized errors', async () => {
  const lines: string[] = [];
  const destination = new Writable({ write(chunk, _enc, done) { lines.push(String(chunk)); done(); } });
  const log = createLogger({ name: 'redact-test', level: 'debug', destination });
  const child = log.child({ token: 'child-secret', siteId: 's1' });
  child.info({ text: 'SELECT * FROM patient', parameters: [{ value: 'Smith' }], rows: 3, nested: { data: 'row data' } }, 'query finished');
  const err = Object.assign(new Error('boom'), { sql: 'SELECT hidden' });
  log.error({ err }, 'failed');
  log.setBindings({ password: 'hunter2' });
  log.warn('after bindings');
  const text = lines.join('');
  for (const secret of ['child-secret', 'SELECT * FROM patient', 'Smith', 'row data', 'SELECT hidden', 'hunter2']) {
    assert.ok(!text.includes(secret), `log output must not contain ${secret}`);
  }
  assert.ok(text.includes('"siteId":"s1"'), 'harmless bindings stay');
  assert.ok(text.includes('query finished'));
  assert.ok(REDACTED_KEYS.includes('parameters'));
});
