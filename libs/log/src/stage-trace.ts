import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

// Where a query's time goes between the processes it crosses. With HALO_STAGE_TRACE_DIR set when a process starts,
// each stage a query reaches is kept as "<CLOCK_MONOTONIC ns> <stage> <query id>" and the lines are written to
// <dir>/<pid>.trace when the process exits (and every MAX_HELD lines before that). The clock is the machine's, so
// stages of one query in different processes on one machine compare directly: bench:relay prints the time between
// them. Only stage names and query ids, never query text, parameters or rows. Off (one boolean test per stage)
// unless the variable is set.

const dir = process.env.HALO_STAGE_TRACE_DIR || undefined;
/** True when this process keeps stages (HALO_STAGE_TRACE_DIR was set at start). */
export const stageTraceEnabled = dir !== undefined;
const MAX_HELD = 100_000;
let held: string[] = [];
const arrivals = new WeakMap<object, bigint>();

function flush(): void {
  if (dir === undefined || held.length === 0) return;
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, `${process.pid}.trace`), `${held.join('\n')}\n`, { flag: 'a' });
  held = [];
}

if (stageTraceEnabled) process.on('exit', flush);

/** Keeps that query `queryId` reached `stage` now (or at `at`, a stageClock() reading). */
export function traceStage(stage: string, queryId: string, at?: bigint): void {
  if (!stageTraceEnabled) return;
  held.push(`${at ?? process.hrtime.bigint()} ${stage} ${queryId}`);
  if (held.length >= MAX_HELD) flush();
}

/** Notes when `request` arrived, for a stage traced once its query id is known (nothing when tracing is off). */
export function markArrival(request: object): void {
  if (stageTraceEnabled) arrivals.set(request, process.hrtime.bigint());
}

/** When markArrival saw `request`, if it did. */
export function arrivalOf(request: object): bigint | undefined {
  return arrivals.get(request);
}

/** One process's trace file: the stages of each query id, by stage name, in ns. */
export function readStageTrace(text: string, into: Map<string, Map<string, bigint>> = new Map()): Map<string, Map<string, bigint>> {
  for (const line of text.split('\n')) {
    const [at, stage, queryId] = line.split(' ');
    if (!at || !stage || !queryId) continue;
    let stages = into.get(queryId);
    if (!stages) into.set(queryId, (stages = new Map()));
    stages.set(stage, BigInt(at));
  }
  return into;
}
