import { pino, type DestinationStream } from 'pino';

/** Once a write has gone out, lines wait at most this long for the next one. */
export const HOLD_MS = 100;
/** Held lines of this many characters go out at once. */
export const HOLD_BYTES = 8 * 1024;

const shared = new Map<number, DestinationStream>();

/** The process's one held destination on `fd` (stdout by default): every logger's lines, in the order they came. */
export function sharedHeldDestination(fd = 1): DestinationStream {
  let destination = shared.get(fd);
  if (!destination) shared.set(fd, (destination = heldDestination(fd)));
  return destination;
}

/**
 * Where a process's log lines go when nothing else is given: file descriptor `fd` (stdout), in few writes.
 * - A line goes out at once when no write went out in the last HOLD_MS, so a ready line or an error at a quiet moment
 *   is not held.
 * - Otherwise the line is held until HOLD_MS after the last write, or until HOLD_BYTES characters are held, and then
 *   the held lines go out in one write.
 * - The process's 'exit' writes what is held. A process killed outright (SIGKILL) loses at most HOLD_MS of lines.
 *
 * Why it exists: pino's default destination wrote each line on its own, through the thread pool. A relayed query logs
 * one line in the facade and one in the agent, so each process paid a write and a wake-up of its event loop per
 * query: a tenth of the agent's CPU profile in bench:relay, the largest item after its socket writes. sonic-boom,
 * pino's writer, does the writing, synchronously: a write per HOLD_MS at most, and no thread-pool round trip.
 * sonic-boom has no hold with a leading edge of its own: its `minLength` and `periodicFlush` would hold a ready line
 * too, and its `flush()` callback adds an fsync.
 */
export function heldDestination(fd: number): DestinationStream {
  const out = pino.destination({ dest: fd, sync: true });
  let held = '';
  let lastWrite = -Infinity;
  let timer: NodeJS.Timeout | undefined;
  const writeHeld = (): void => {
    clearTimeout(timer);
    timer = undefined;
    lastWrite = performance.now();
    if (held === '') return;
    const lines = held;
    held = '';
    out.write(lines);
  };
  process.on('exit', writeHeld);
  return {
    write(line: string): void {
      held += line;
      if (timer !== undefined && held.length < HOLD_BYTES) return;
      const since = performance.now() - lastWrite;
      if (since >= HOLD_MS || held.length >= HOLD_BYTES) writeHeld();
      else timer = setTimeout(writeHeld, HOLD_MS - since).unref();
    },
  };
}
