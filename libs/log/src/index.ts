import { pino, type Logger, type DestinationStream, type LevelWithSilent } from 'pino';
import { createRedactor } from './redact.ts';
import { sharedHeldDestination } from './held-destination.ts';

export type { Logger } from 'pino';
export { HOLD_BYTES, HOLD_MS, heldDestination } from './held-destination.ts';
export { arrivalOf, markArrival, readStageTrace, stageTraceEnabled, traceStage } from './stage-trace.ts';

/**
 * Keys whose values may carry query text, parameters, row data or secrets. They are censored wherever they
 * appear (two levels deep), as a backstop: code must not log them in the first place.
 */
export const REDACTED_KEYS = [
  'text', 'sql', 'command', 'parameters', 'params', 'rows', 'records', 'data', 'value', 'values', 'body',
  'password', 'secret', 'token', 'key', 'subscriptionKey', 'creds', 'authorization', 'connectionString',
] as const;

export interface LoggerOptions {
  name: string;
  level?: LevelWithSilent;
  /** Where lines go; stdout by default, held briefly (held-destination.ts). Tests pass an in-memory stream. */
  destination?: DestinationStream;
}

const ERROR_KEY = 'err';
const redact = createRedactor({
  keys: REDACTED_KEYS,
  depth: 2,
  paths: [['req', 'headers', 'ocp-apim-subscription-key'], ['req', 'headers', 'authorization']],
  // Errors are censored once serialized (below): their message and stack are not own enumerable properties.
  skip: ERROR_KEY,
});
const serializeError = pino.stdSerializers.err;

/** Creates the one logger a process uses; children add bindings such as siteId or queryId. */
export function createLogger(options: LoggerOptions): Logger {
  const logger = pino(
    {
      name: options.name,
      level: options.level ?? 'info',
      // Redaction through formatters rather than pino's `redact` paths: the same keys at the same depths, at a
      // fraction of the cost per line (pino's wildcard paths were the largest CPU cost of a relayed query).
      formatters: {
        log: (object) => redact(object) as Record<string, unknown>,
        bindings: (bindings) => redact(bindings) as pino.Bindings,
      },
      serializers: { [ERROR_KEY]: (err: unknown) => redact(serializeError(err as Error), 1) },
      base: { service: options.name },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    options.destination ?? sharedHeldDestination(),
  );
  // pino resets the bindings formatter for children, so their bindings are censored on the way in. Children
  // are created from their parent's prototype, so they (and their children) inherit these methods.
  const { child, setBindings } = logger;
  Object.assign(logger, {
    child(this: Logger, bindings: pino.Bindings, childOptions?: pino.ChildLoggerOptions<never>): Logger {
      return child.call<Logger, [pino.Bindings, pino.ChildLoggerOptions<never> | undefined], Logger>(this, redact(bindings) as pino.Bindings, childOptions);
    },
    setBindings(this: Logger, bindings: pino.Bindings): void {
      setBindings.call(this, redact(bindings) as pino.Bindings);
    },
  });
  return logger;
}

const LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'] as const;

/**
 * A logger whose lines are `parent`'s with `bindings` added, as a child's would be, without making a pino child:
 * a child serialises its bindings when it is made, which cost more than the one line a request logs (the facade
 * makes one per HTTP request). Each line merges the bindings into its object instead; the line reads the same,
 * bindings first. Its `child()` is bound the same way; level, flush and the rest are the parent's.
 */
export function boundLogger(parent: Logger, bindings: pino.Bindings): Logger {
  const own: pino.Bindings = { ...bindings };
  const bound = Object.create(parent) as Logger;
  for (const level of LEVELS) {
    bound[level] = ((first?: unknown, ...rest: unknown[]) => {
      if (first instanceof Error) return parent[level]({ ...own, [ERROR_KEY]: first }, ...(rest as [string]));
      if (typeof first === 'object' && first !== null) return parent[level]({ ...own, ...first }, ...(rest as [string]));
      return parent[level](own, ...([first, ...rest] as [string]));
    }) as pino.LogFn;
  }
  Object.assign(bound, {
    child: (more: pino.Bindings, options?: pino.ChildLoggerOptions<never>): Logger =>
      options && Object.keys(options).length > 0 ? parent.child({ ...own, ...more }, options) : boundLogger(parent, { ...own, ...more }),
    bindings: (): pino.Bindings => ({ ...parent.bindings(), ...own }),
    setBindings: (more: pino.Bindings): void => {
      Object.assign(own, more);
    },
  });
  return bound;
}
