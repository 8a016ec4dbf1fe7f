import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';

const FIXTURE = fileURLToPath(new URL('./fixtures/service.ts', import.meta.url));

/** Runs the fixture; `signals` are sent one by one once it printed `ready` (and after each close line). */
async function run(mode: string, signals: NodeJS.Signals[]): Promise<{ lines: string[]; code: number | null }> {
  const child = spawn(process.execPath, [FIXTURE, mode], { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines: string[] = [];
  let buffered = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (chunk: string) => {
    buffered += chunk;
    for (let i = buffered.indexOf('\n'); i >= 0; i = buffered.indexOf('\n')) {
      const line = buffered.slice(0, i);
      buffered = buffered.slice(i + 1);
      lines.push(line);
      if (line === 'ready' || line === 'close hangs' || line === 'starting') {
        const signal = signals.shift();
        if (signal) child.kill(signal);
      }
    }
  });
  const [code] = await once(child, 'exit') as [number | null];
  return { lines, code };
}

test('a signal runs the closes in reverse order; a failing close is logged, the rest still run, exit 1', async () => {
  const { lines, code } = await run('normal', ['SIGTERM']);
  assert.deepEqual(lines, ['ready', 'close last', 'close failing', 'close first']);
  assert.equal(code, 1, 'a failed close makes the exit code 1');
});

test('a start that fails closes what it had opened and exits 1', async () => {
  const { lines, code } = await run('start-fails', []);
  assert.deepEqual(lines, ['close failing', 'close first']);
  assert.equal(code, 1);
});

test('a second signal during a stuck shutdown exits at once', async () => {
  const { lines, code } = await run('hang', ['SIGINT', 'SIGINT']);
  assert.deepEqual(lines, ['ready', 'close hangs']);
  assert.equal(code, 130);
});

test('a signal during a long start makes it give up, then closes what it had opened', async () => {
  const { lines, code } = await run('slow-start', ['SIGTERM']);
  assert.deepEqual(lines, ['starting', 'close failing', 'close first']);
  assert.equal(code, 1, 'the failing close still sets exit code 1');
});
