// Stage tracing (HALO_STAGE_TRACE_DIR) is read once at start, so each case runs in a process of its own.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readStageTrace } from '../src/index.ts';

const index = new URL('../src/index.ts', import.meta.url).href;
/** Runs a few stages in a new process; returns what it left in `dir`. */
function run(dir: string, env: NodeJS.ProcessEnv): string[] {
  const script = `const { traceStage } = await import(${JSON.stringify(index)});
    traceStage('facade.received', 'q-1', 5n); traceStage('agent.received', 'q-1'); traceStage('facade.received', 'q-2');`;
  // Run in `dir`: a stage written relative to the working directory would land there too.
  execFileSync(process.execPath, ['--input-type=module', '-e', script], { cwd: dir, env: { ...process.env, ...env } });
  return readdirSync(dir);
}

test('with HALO_STAGE_TRACE_DIR, a process writes its stages there when it exits, on the machine clock', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'halo-stages-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const before = process.hrtime.bigint();
  const files = run(dir, { HALO_STAGE_TRACE_DIR: dir });
  assert.equal(files.length, 1);
  assert.match(files[0]!, /^\d+\.trace$/);
  const stages = readStageTrace(readFileSync(join(dir, files[0]!), 'utf8'));
  assert.deepEqual([...stages.keys()], ['q-1', 'q-2']);
  assert.equal(stages.get('q-1')!.get('facade.received'), 5n);
  // CLOCK_MONOTONIC is the machine's: another process's stage falls after this process's earlier reading.
  const agent = stages.get('q-1')!.get('agent.received')!;
  assert.ok(agent > before && agent < process.hrtime.bigint());
});

test('with HALO_STAGE_TRACE_DIR empty or unset nothing is kept or written', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'halo-stages-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  assert.deepEqual(run(dir, { HALO_STAGE_TRACE_DIR: '' }), []);
  const { HALO_STAGE_TRACE_DIR: _unset, ...rest } = process.env;
  execFileSync(process.execPath, ['--input-type=module', '-e', `(await import(${JSON.stringify(index)})).traceStage('a', 'q')`], { cwd: dir, env: rest });
  assert.deepEqual(readdirSync(dir), []);
});
