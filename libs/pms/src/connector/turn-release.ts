import type { QueryGuard } from './query-guard.ts';

/** A cursor's hand-back of its connector's turn: stops the guard watching and frees the connector, once only. */
export function turnRelease(guard: QueryGuard, release: () => void): () => void {
  let released = false;
  return () => {
    if (released) return;
    released = true;
    guard.dispose();
    release();
  };
}
