/** What a censored value is replaced with. */
export const CENSOR = '[redacted]';

export interface RedactorOptions {
  /** Property names whose values are censored. */
  keys: readonly string[];
  /** Levels below the top that are searched too (2: `k`, `*.k` and `*.*.k`). */
  depth: number;
  /** Exact paths censored as well, e.g. ['req', 'headers', 'authorization']. */
  paths?: ReadonlyArray<readonly string[]>;
  /** A top-level key left alone (one a serializer redacts after serializing it). */
  skip?: string;
}

/**
 * Builds a censoring function for log objects: values of `keys` are replaced with CENSOR at the top level and
 * up to `depth` levels below it (what pino's `k`, `*.k`, `*.*.k` redact paths do), plus the exact `paths`.
 * Objects are copied only where something is censored; the caller's objects are never changed. It replaces
 * pino's own redaction, which re-parses every path for every value of every line (tens of µs a line).
 */
export function createRedactor(options: RedactorOptions): (value: unknown, level?: number) => unknown {
  const censored = new Set(options.keys);
  const { depth, paths = [], skip } = options;

  const walk = (value: unknown, level: number): unknown => {
    if (typeof value !== 'object' || value === null || ArrayBuffer.isView(value)) return value;
    const source = value as Record<string, unknown>;
    let copy: Record<string, unknown> | undefined;
    for (const key in source) {
      const current = source[key];
      let next = current;
      if (level === 0 && key === skip) continue;
      if (censored.has(key) && Object.hasOwn(source, key)) {
        // Top-level undefined values are left out of the line anyway; nested ones are censored as pino did.
        if (level === 0 && current === undefined) continue;
        next = CENSOR;
      } else if (level < depth) {
        next = walk(current, level + 1);
      }
      if (next !== current) {
        copy ??= clone(source);
        define(copy, key, next);
      }
    }
    let result: unknown = copy ?? value;
    if (level === 0) for (const path of paths) result = censorPath(result, path);
    return result;
  };
  return (value, level = 0) => walk(value, level);
}

/** Censors one exact path (when present, as an own property at its end), copying what lies on the way. */
function censorPath(value: unknown, path: readonly string[]): unknown {
  const [head, ...rest] = path;
  if (head === undefined || typeof value !== 'object' || value === null) return value;
  const source = value as Record<string, unknown>;
  if (!Object.hasOwn(source, head)) return value;
  const next = rest.length === 0 ? CENSOR : censorPath(source[head], rest);
  if (next === source[head]) return value;
  const copy = clone(source);
  define(copy, head, next);
  return copy;
}

/** A shallow copy with the same prototype and own enumerable properties (arrays stay arrays). */
function clone(source: Record<string, unknown>): Record<string, unknown> {
  if (Array.isArray(source)) return source.slice() as unknown as Record<string, unknown>;
  const copy = Object.create(Object.getPrototypeOf(source) as object | null) as Record<string, unknown>;
  for (const key in source) if (Object.hasOwn(source, key)) define(copy, key, source[key]);
  return copy;
}

/** An own, plain data property, whatever the prototype declares under that name. */
function define(target: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}
