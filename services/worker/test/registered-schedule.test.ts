import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tickDueAt } from '@halo/contracts';
import { nextTick } from '../src/index.ts';

const record = { createdAt: 1_000_000, frequency: 60, duration: 120 };

test('ticks are due every frequency while n * frequency <= duration (Halo runs 0, 60 and 120 s of a 120 s query)', () => {
  assert.deepEqual([0, 1, 2, 3].map((n) => tickDueAt(record, n)), [1_000_000, 1_060_000, 1_120_000, null]);
});

test('the next tick follows the last; after an outage the latest due one runs and the rest are skipped', () => {
  assert.deepEqual(nextTick(record, 0, 1_000_500), { tick: 1, dueAt: 1_060_000, skipped: 0 });
  assert.deepEqual(nextTick(record, 0, 1_065_000), { tick: 1, dueAt: 1_060_000, skipped: 0 });
  assert.deepEqual(nextTick(record, 0, 1_130_000), { tick: 2, dueAt: 1_120_000, skipped: 1 });
  assert.equal(nextTick(record, 2, 1_120_100), null);
  assert.equal(nextTick(record, 5, 2_000_000), null);
});
