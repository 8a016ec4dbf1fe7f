/**
 * Runs `stop` (cancel a statement, wait for the server, roll back) for at most `ms`; should it fail or take
 * longer, `discard` drops the connection instead, so a statement that will not stop never blocks the next one.
 */
export async function stopWithin(ms: number, stop: () => Promise<void>, discard: () => void): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      stop(),
      new Promise((_, reject) => { timer = setTimeout(() => reject(new Error('abort timed out')), ms); }),
    ]);
  } catch {
    discard();
  } finally {
    clearTimeout(timer);
  }
}
