/** How long and how many HTTP connections the facade holds (HALO_HTTP_* settings); seconds. */
export interface HttpLimits {
  /** Time to receive a request's headers; slower is 408 `request_timeout` and the connection closes. */
  headersTimeoutSeconds: number;
  /** Time to receive a whole request, headers and body; a missing or trickling body is 408 and closes. */
  requestTimeoutSeconds: number;
  /**
   * A connection with no bytes either way for this long is closed (e.g. a client that stopped reading). An
   * immediate query's socket is silent until its answer, so this must outlast maxTimeInQueue plus the query timeout.
   */
  idleTimeoutSeconds: number;
  /** An idle keep-alive connection is closed this long after its last response. */
  keepAliveTimeoutSeconds: number;
  /** Connections beyond this are closed as they arrive; keep it below the process's open-files limit. */
  maxConnections: number;
  /** On close, requests in flight get this long to finish; then their connections are cut. */
  closeTimeoutSeconds: number;
}

/** Fastify's keep-alive default (above the 60 s idle timeout of common load balancers) and bounds sized for an API. */
export const DEFAULT_HTTP_LIMITS: HttpLimits = {
  headersTimeoutSeconds: 10,
  requestTimeoutSeconds: 30,
  idleTimeoutSeconds: 120,
  keepAliveTimeoutSeconds: 72,
  maxConnections: 1000,
  closeTimeoutSeconds: 20,
};

/** Node and Fastify options for the limits. */
export function httpServerOptions(given: Partial<HttpLimits>) {
  const limits = { ...DEFAULT_HTTP_LIMITS, ...given };
  const ms = (seconds: number) => Math.max(1, Math.round(seconds * 1000));
  if (limits.headersTimeoutSeconds > limits.requestTimeoutSeconds) {
    throw new TypeError('the headers timeout cannot exceed the request timeout (which includes the headers)');
  }
  const headersTimeout = ms(limits.headersTimeoutSeconds);
  return {
    /** http(s).createServer options. */
    node: {
      headersTimeout,
      requestTimeout: ms(limits.requestTimeoutSeconds),
      // Node checks both timeouts on this period (default 30 s, which would let a 10 s bound run to 40 s).
      connectionsCheckingInterval: Math.min(1000, Math.ceil(headersTimeout / 2)),
      // A request without Host reaches the app, which answers it in the error shape (Node's own 400 is empty).
      requireHostHeader: false,
    },
    /** Fastify options (it sets them on the server itself). */
    fastify: {
      requestTimeout: ms(limits.requestTimeoutSeconds),
      connectionTimeout: ms(limits.idleTimeoutSeconds),
      keepAliveTimeout: ms(limits.keepAliveTimeoutSeconds),
    },
    maxConnections: limits.maxConnections,
    closeTimeoutMs: ms(limits.closeTimeoutSeconds),
  };
}
