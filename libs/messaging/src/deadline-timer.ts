// setTimeout fires at once for delays above 2^31-1 ms (~24.8 days): clamping to it would fire a far deadline
// early, so a far deadline is waited for in steps, each re-checking the clock.
export const MAX_TIMER_MS = 2_147_483_647;

/** A pending deadline; clear() cancels it. */
export interface DeadlineTimer {
  clear(): void;
}

/** Calls `fire` once, asynchronously, when the clock reaches `deadline` (epoch ms), however far away it is. */
export function atDeadline(deadline: number, fire: () => void): DeadlineTimer {
  let timer: NodeJS.Timeout;
  const arm = (first: boolean) => {
    const left = deadline - Date.now();
    if (left <= 0 && !first) {
      fire();
      return;
    }
    timer = setTimeout(() => arm(false), Math.min(Math.max(left, 0), MAX_TIMER_MS));
  };
  arm(true);
  return { clear: () => clearTimeout(timer) };
}
