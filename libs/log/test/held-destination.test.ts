// The default log destination holds lines briefly and writes them together: a lone line goes out at once, lines
// close together wait for one write, and what is held is written when the process exits.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createLogger, HOLD_BYTES, HOLD_MS, heldDestination } from '../src/index.ts';

function tempFile(t: { after(fn: () => void): void }): { path: string; fd: number } {
  const dir = mkdtempSync(join(tmpdir(), 'halo-held-'));
  const path = join(dir, 'log');
  const fd = openSync(path, 'a');
  t.after(() => {
    closeSync(fd);
    rmSync(dir, { recursive: true, force: true });
  });
  return { path, fd };
}

const linesOf = (path: string) => readFileSync(path, 'utf8').split('\n').filter(Boolean).map((l) => (JSON.parse(l) as { msg: string }).msg);

async function until(what: () => boolean, label: string): Promise<void> {
  for (let i = 0; i < 500 && !what(); i++) await sleep(10);
  assert.ok(what(), label);
}

test('a lone line is written at once; lines right after it are held and then written together', async (t) => {
  const { path, fd } = tempFile(t);
  const log = createLogger({ name: 'held-test', destination: heldDestination(fd) });
  log.info('ready');
  assert.deepEqual(linesOf(path), ['ready'], 'the first line is in the file before the call returns');
  log.info('one');
  log.info('two');
  assert.deepEqual(linesOf(path), ['ready'], 'lines right after a write are held');
  await until(() => linesOf(path).length === 3, 'the held lines are written within HOLD_MS');
  assert.deepEqual(linesOf(path), ['ready', 'one', 'two']);
  // Quiet for HOLD_MS: the next line is not held.
  await sleep(HOLD_MS + 20);
  log.warn('later');
  assert.deepEqual(linesOf(path), ['ready', 'one', 'two', 'later']);
});

test('held lines past HOLD_BYTES are written without waiting, in order', async (t) => {
  const { path, fd } = tempFile(t);
  const log = createLogger({ name: 'held-test', destination: heldDestination(fd) });
  log.info('first');
  const filler = 'x'.repeat(200);
  const count = Math.ceil(HOLD_BYTES / filler.length) + 1;
  for (let i = 0; i < count; i++) log.info({ filler }, `line ${i}`);
  const written = linesOf(path);
  assert.ok(written.length > 1, 'a full hold is written in the same turn');
  assert.deepEqual(written, ['first', ...Array.from({ length: written.length - 1 }, (_, i) => `line ${i}`)]);
  await until(() => linesOf(path).length === count + 1, 'the rest is written within HOLD_MS');
});

test('lines held when the process exits are written, to stdout by default', () => {
  const script = [
    `import { createLogger } from ${JSON.stringify(new URL('../src/index.ts', import.meta.url).href)};`,
    `const log = createLogger({ name: 'held-exit' });`,
    `log.info('first'); log.info('held'); log.error('held too');`,
    `process.exit(3);`,
  ].join('\n');
  let stdout = '';
  try {
    execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
  } catch (err) {
    const failed = err as { status: number; stdout: string };
    assert.equal(failed.status, 3);
    stdout = failed.stdout;
  }
  assert.deepEqual(stdout.split('\n').filter(Boolean).map((l) => (JSON.parse(l) as { msg: string }).msg), ['first', 'held', 'held too']);
});
