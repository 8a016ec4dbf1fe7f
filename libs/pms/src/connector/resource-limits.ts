// What one statement may cost the practice server: the memory of the process or session that runs it, and the
// size of one row (which crosses to the agent in one piece). Errors are `resource_limit_exceeded` (HTTP 413).
import { AppError } from '@halo/contracts/errors';

/** Resource limits a connector applies to every statement; unset = none. */
export interface ResourceLimits {
  /**
   * SQLite: the worker process's resident memory (a watchdog kills it past this); MySQL/MariaDB: the session's
   * (`max_session_mem_used`, MariaDB only). PostgreSQL and SQL Server have no such session setting: ignored.
   */
  maxMemoryBytes?: number;
  /** Default QueryInput.maxRowBytes: one row of more JSON bytes than this fails the statement. */
  maxRowBytes?: number;
}

/** The error of a statement whose process or session passed its memory limit. */
export function memoryLimitError(limitBytes: number): AppError {
  return new AppError('resource_limit_exceeded', `the statement needed more than ${mebibytes(limitBytes)} MiB of memory, the limit for this site`);
}

/** The error of a statement that produced a row larger than its limit. */
export function rowLimitError(limitBytes: number): AppError {
  return new AppError('resource_limit_exceeded', `a row is larger than ${mebibytes(limitBytes)} MiB, the limit for this site`);
}

function mebibytes(bytes: number): string {
  return String(Math.round((bytes / 1024 ** 2) * 100) / 100);
}
