/** Stable error codes, shared by every service; each maps to one HTTP status. */
export const ErrorStatus = {
  bad_request: 400,
  /** A webhook URL that is not HTTPS, or resolves to a loopback, link-local or private address. */
  webhook_url_refused: 400,
  /** The site's database engine has no stored procedures (SQLite), or none of this kind (a returnValue on MariaDB). */
  procedures_not_supported: 400,
  query_failed: 400,
  unauthorized: 401,
  site_not_authoritative: 403,
  writes_disabled: 403,
  integration_disabled: 403,
  not_onboarded: 403,
  /** The integrator has not paired with the site (`POST /integrator/pair-site`): Halo requires an active pairing. */
  site_not_paired: 403,
  /** The enrolment token does not allow this Link GUID: new links get one minted; re-enrolment tokens name theirs. */
  enrolment_refused: 403,
  /** A link's request names another link than the one the hub let it send as (register, unregister). */
  link_mismatch: 403,
  /** A console or portal form without its session's CSRF token (or with another session's). */
  csrf_failed: 403,
  not_found: 404,
  cancelled: 409,
  site_not_found: 404,
  /** An async query's results are not (or not yet) available: it has not finished successfully. */
  query_not_ready: 409,
  /** An async query that already finished cannot be cancelled. */
  query_finished: 409,
  /** A compare-and-set lost: the record changed since it was read (e.g. two simultaneous authority moves). */
  conflict: 409,
  gone: 410,
  /** The request (headers and body) did not arrive within the facade's bounds; the connection is closed. */
  request_timeout: 408,
  /** `Expect` other than `100-continue`. */
  expectation_failed: 417,
  /** Request headers over the server's limit (16 KiB). */
  headers_too_large: 431,
  payload_too_large: 413,
  result_too_large: 413,
  row_limit_exceeded: 413,
  byte_limit_exceeded: 413,
  /** A statement needed more memory, or produced a larger row, than the site allows (the agent's maxMemoryMiB / maxRowMiB). */
  resource_limit_exceeded: 413,
  rate_limited: 429,
  internal: 500,
  site_offline: 503,
  registry_unavailable: 503,
  agent_busy: 503,
  queue_timeout: 503,
  /** The facade cannot reach the hub (NATS, JetStream), or nothing it needs to answer: retry shortly. */
  service_unavailable: 503,
  /** The agent went silent mid-query (killed, frozen, cut off): no chunk and no keep-alive within the stall timeout. */
  agent_lost: 503,
  /** A nonQuery lost its agent mid-run: it may have been applied, so it is not run again. */
  write_not_retried: 503,
  /** The facade is shedding load (event loop or memory over its bounds): retry after `Retry-After`. */
  overloaded: 503,
  deadline_exceeded: 504,
  execution_timeout: 504,
} as const;

export type ErrorCode = keyof typeof ErrorStatus;
export const ErrorCodes = Object.keys(ErrorStatus) as [ErrorCode, ...ErrorCode[]];

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.hasOwn(ErrorStatus, value);
}

/** The one error type of the project: a stable code, a message safe to show, and an optional cause. */
export class AppError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  /** Seconds the caller should wait before trying again (HTTP `Retry-After`), e.g. for `rate_limited`. */
  readonly retryAfterSeconds?: number;
  /** SQL Server's own error number, when SQL Server refused the statement (Halo's errorDetails.errorCode). */
  readonly sqlServerError?: number;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; retryAfterSeconds?: number; sqlServerError?: number }) {
    super(message, options && 'cause' in options ? { cause: options.cause } : undefined);
    this.name = 'AppError';
    this.code = code;
    this.status = ErrorStatus[code];
    if (options?.retryAfterSeconds !== undefined) this.retryAfterSeconds = options.retryAfterSeconds;
    if (options?.sqlServerError !== undefined) this.sqlServerError = options.sqlServerError;
  }
}

export function isAppError(error: unknown): error is AppError {
  return error instanceof AppError;
}
