/** The part of node:test's TestContext cleanup needs. */
export interface HasAfter {
  after(fn: () => unknown): void;
}

/**
 * Returns `defer(fn)`: cleanups run after the test in reverse order of registration (last opened, first
 * closed), each awaited, and one failing does not skip the others.
 */
export function cleanupStack(t: HasAfter): (fn: () => unknown) => void {
  const stack: Array<() => unknown> = [];
  t.after(async () => {
    const errors: unknown[] = [];
    for (const fn of stack.reverse()) {
      try {
        await fn();
      } catch (err) {
        errors.push(err);
      }
    }
    if (errors.length > 0) throw new AggregateError(errors, 'cleanup failed');
  });
  return (fn) => {
    stack.push(fn);
  };
}
