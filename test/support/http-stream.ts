/** Reads an HTTP body as it arrives, counting bytes and lines, never holding more than one chunk. */
export async function drainBody(res: Response, onChunk?: (bytes: number) => Promise<void> | void): Promise<{ bytes: number; lines: number; lastLine: string }> {
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let bytes = 0;
  let lines = 0;
  let tail = '';
  let lastLine = '';
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    bytes += value.byteLength;
    const text = tail + decoder.decode(value, { stream: true });
    const parts = text.split('\n');
    tail = parts.pop() ?? '';
    lines += parts.length;
    if (parts.length > 0) lastLine = parts[parts.length - 1]!;
    await onChunk?.(bytes);
  }
  return { bytes, lines, lastLine };
}

import v8 from 'node:v8';
import vm from 'node:vm';

/**
 * Live memory of this process (heap in use plus buffers) right after a full collection, so garbage the
 * collector has not reached yet does not count. Twice: V8 frees dead buffers' memory concurrently after a
 * collection and finishes that at the start of the next one, so after one the figure still held 40-108 MB of
 * buffers already dead. Exposing gc at run time keeps the test runner's flags as they are.
 */
export function liveMemory(): number {
  collect ??= exposeGc();
  collect();
  collect();
  const m = process.memoryUsage();
  return m.heapUsed + m.external + m.arrayBuffers;
}

let collect: (() => void) | undefined;

/** gc() without restarting the process with --expose-gc; one context, made once (each costs memory itself). */
function exposeGc(): () => void {
  v8.setFlagsFromString('--expose-gc');
  return vm.runInNewContext('gc') as () => void;
}

/** Resident set size of this process in bytes. */
export function rss(): number {
  return process.memoryUsage().rss;
}
