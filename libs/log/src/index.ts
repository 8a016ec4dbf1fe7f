import { pino, type Logger, type DestinationStream, type LevelWithSilent } from 'pino';

export type { Logger } from 'pino';

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
  /** Where lines go; stdout by default. Tests pass an in-memory stream. */
  destination?: DestinationStream;
}

/** Creates the one logger a process uses; children add bindings such as siteId or queryId. */
export function createLogger(options: LoggerOptions): Logger {
  const paths = REDACTED_KEYS.flatMap((k) => [k, `*.${k}`, `*.*.${k}`]);
  paths.push('req.headers["ocp-apim-subscription-key"]', 'req.headers.authorization');
  return pino(
    {
      name: options.name,
      level: options.level ?? 'info',
      redact: { paths, censor: '[redacted]' },
      base: { service: options.name },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    options.destination,
  );
}
