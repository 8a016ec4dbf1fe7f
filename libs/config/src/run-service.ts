import type { Logger } from '@halo/log';

/** What a service's `start` gets: `defer` registers a close, run in reverse order at shutdown. */
export interface ServiceScope {
  /** Registers `close` (named `what` in logs) to run at shutdown, after every close registered later. */
  defer(what: string, close: () => unknown): void;
  /** Aborted when a stop is asked for while `start` still runs: a long start gives up early. */
  readonly signal: AbortSignal;
}

export interface RunServiceOptions {
  /** The service's logger: its lines already name the service. */
  log: Logger;
  /** Opens the service's resources in order, registering each one's close with `scope.defer` right after opening it. */
  start(scope: ServiceScope): Promise<void>;
  /** Longest wait for the closes at shutdown before the process exits anyway. Default 30 s. */
  shutdownTimeoutMs?: number;
}

/**
 * The lifecycle every `main.ts` shares: starts the service, then on the first SIGINT or SIGTERM runs the
 * registered closes in reverse order. A close that fails is logged and sets exit code 1; the rest still run.
 * A start that fails is logged, closes what it had opened and exits 1. A second signal exits at once.
 * Resolves when the service is up (and never, when start fails); the process exits once shutdown is done.
 */
export async function runService(options: RunServiceOptions): Promise<void> {
  const { log } = options;
  const closes: Array<{ what: string; close: () => unknown }> = [];
  let stopping: Promise<void> | undefined;
  const starting = new AbortController();
  let stopAsked: NodeJS.Signals | undefined;
  let started = false;

  const shutdown = (reason: string, exitCode: number): Promise<void> => {
    stopping ??= (async () => {
      log.info({ reason }, 'stopping');
      const deadline = setTimeout(() => {
        log.error({ pending: closes.map((c) => c.what) }, 'shutdown timed out; exiting');
        process.exit(1);
      }, options.shutdownTimeoutMs ?? 30_000);
      deadline.unref();
      let code = exitCode;
      for (let entry = closes.pop(); entry; entry = closes.pop()) {
        try {
          await entry.close();
        } catch (err) {
          log.error({ what: entry.what, err }, 'close failed');
          code = 1;
        }
      }
      clearTimeout(deadline);
      log.info({ exitCode: code }, 'stopped');
      // Exit rather than wait for the event loop to empty: whatever a library left scheduled (a reconnect
      // timer, a keep-alive socket) must not hold a stopped service up.
      process.exit(code);
    })();
    return stopping;
  };

  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping || stopAsked) {
      log.warn({ signal }, 'second signal: exiting now');
      process.exit(130);
    }
    stopAsked = signal;
    // While starting, the start is told to give up; the closes run once it has returned or thrown.
    if (started) {
      void shutdown(signal, 0);
      return;
    }
    starting.abort(new Error(`${signal} while starting`));
    // A start that does not watch its signal gets as long as a shutdown would.
    setTimeout(() => {
      log.error('start did not give up in time; exiting');
      process.exit(1);
    }, options.shutdownTimeoutMs ?? 30_000).unref();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  try {
    await options.start({ defer: (what, close) => { closes.push({ what, close }); }, signal: starting.signal });
  } catch (err) {
    if (stopAsked) await shutdown(stopAsked, 0);
    log.fatal({ err }, 'start failed');
    await shutdown('start failed', 1);
  }
  started = true;
  if (stopAsked) await shutdown(stopAsked, 0);
  log.info('started');
}
