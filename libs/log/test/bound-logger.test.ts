// boundLogger stands in for a pino child on hot paths: its lines must read as a child's would.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { boundLogger, createLogger } from '../src/index.ts';
import { CENSOR } from '../src/redact.ts';

function capture(): { lines: () => Array<Record<string, unknown>>; stream: Writable } {
  const chunks: string[] = [];
  const stream = new Writable({ write(chunk, _enc, done) { chunks.push(String(chunk)); done(); } });
  return { stream, lines: () => chunks.join('').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>) };
}

/** A line without its time, which differs between two calls. */
const timeless = ({ time: _time, ...rest }: Record<string, unknown>) => rest;

test('a bound logger writes the same lines as a pino child with the same bindings: key order, levels, nesting, censoring', () => {
  const out = capture();
  const log = createLogger({ name: 'bound-test', level: 'debug', destination: out.stream });
  const calls: Array<(l: typeof log) => void> = [
    (l) => l.info({ status: 200, ms: 3 }, 'request completed'),
    (l) => l.warn('just a message'),
    (l) => l.debug({ reqId: 'override' }, 'a field named like a binding'),
    (l) => l.trace({ hidden: true }, 'below the level: no line'),
    (l) => l.error({ token: 'secret', nested: { sql: 'SELECT 1' } }, 'censored fields'),
    (l) => l.child({ integratorId: 'int-1' }).info({ rowCount: 1 }, 'query finished'),
    (l) => l.child({ integratorId: 'int-1' }).child({ queryId: 'q' }).info('two levels'),
  ];
  const bindings = { reqId: 'req-1', text: 'SELECT censored binding' };
  for (const call of calls) {
    call(log.child(bindings));
    call(boundLogger(log, bindings));
  }
  const lines = out.lines();
  assert.equal(lines.length, (calls.length - 1) * 2, 'the trace line is below the level for both');
  for (let i = 0; i < lines.length; i += 2) {
    assert.deepEqual(Object.keys(lines[i + 1]!), Object.keys(lines[i]!), `key order of line ${i / 2}`);
    assert.deepEqual(timeless(lines[i + 1]!), timeless(lines[i]!), `line ${i / 2}`);
  }
  assert.equal(lines[0]!.text, CENSOR, 'a censored key is censored as a binding too');
  assert.equal(lines[0]!.reqId, 'req-1');
});

test('setBindings adds to a bound logger only, and bindings() lists the parent\'s and its own', () => {
  const out = capture();
  const log = createLogger({ name: 'bound-test', destination: out.stream });
  const bound = boundLogger(log, { reqId: 'r' });
  const other = boundLogger(log, { reqId: 's' });
  bound.setBindings({ integratorId: 'i' });
  bound.info('one');
  other.info('two');
  const [one, two] = out.lines();
  assert.equal(one!.integratorId, 'i');
  assert.equal(two!.integratorId, undefined);
  assert.equal(two!.reqId, 's');
  assert.deepEqual(bound.bindings(), { ...log.bindings(), reqId: 'r', integratorId: 'i' });
});
