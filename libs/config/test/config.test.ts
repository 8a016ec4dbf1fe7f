import { test } from 'node:test';
import assert from 'node:assert/strict';
import { z } from 'zod';
import { ConfigError, List, Port, loadConfig } from '../src/index.ts';

const Schema = z.object({
  HALO_PORT: Port.default(8080),
  HALO_NAMES: List.default([]),
  HALO_MODE: z.enum(['fast', 'small']).default('fast'),
});

test('reads only the schema\'s keys, with defaults for unset and empty values', () => {
  const config = loadConfig(Schema, { HALO_PORT: '', HALO_NAMES: ' a, b ,,c ', UNRELATED: 'x' });
  assert.deepEqual(config, { HALO_PORT: 8080, HALO_NAMES: ['a', 'b', 'c'], HALO_MODE: 'fast' });
});

test('parses ports, 0 meaning a free one, and refuses anything outside 0..65535', () => {
  assert.equal(loadConfig(Schema, { HALO_PORT: '0' }).HALO_PORT, 0);
  assert.equal(loadConfig(Schema, { HALO_PORT: '65535' }).HALO_PORT, 65535);
  for (const bad of ['65536', '-1', '80.5', 'http']) assert.throws(() => loadConfig(Schema, { HALO_PORT: bad }), ConfigError, bad);
});

test('lists every problem at once, by variable name', () => {
  try {
    loadConfig(Schema, { HALO_PORT: 'x', HALO_MODE: 'medium' });
    assert.fail('expected a ConfigError');
  } catch (error) {
    assert.ok(error instanceof ConfigError);
    assert.equal(error.issues.length, 2);
    assert.ok(error.issues.some((issue) => issue.startsWith('HALO_PORT:')));
    assert.ok(error.issues.some((issue) => issue.startsWith('HALO_MODE:')));
    assert.match(error.message, /invalid configuration/);
  }
});
