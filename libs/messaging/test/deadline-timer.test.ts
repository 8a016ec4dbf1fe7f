import { test, mock } from 'node:test';
import assert from 'node:assert/strict';
import { atDeadline } from '../src/deadline-timer.ts';

const DAY = 24 * 60 * 60 * 1000;

test('a deadline further away than setTimeout can wait (2^31-1 ms) fires at its time, not early', (t) => {
  mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 0 });
  t.after(() => mock.timers.reset());
  let firedAt: number | undefined;
  atDeadline(30 * DAY, () => { firedAt = Date.now(); });
  mock.timers.tick(25 * DAY);
  assert.equal(firedAt, undefined, 'past the 24.8-day clamp, but 5 days early');
  mock.timers.tick(5 * DAY);
  assert.equal(firedAt, 30 * DAY);
});

test('a passed deadline fires asynchronously, and clear() stops a pending one', (t) => {
  mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 1_000 });
  t.after(() => mock.timers.reset());
  let fired = 0;
  atDeadline(0, () => fired++);
  assert.equal(fired, 0, 'not during the call');
  mock.timers.tick(0);
  assert.equal(fired, 1);
  const pending = atDeadline(5_000, () => fired++);
  pending.clear();
  mock.timers.tick(10_000);
  assert.equal(fired, 1);
});
