/** How many times one attempt re-runs its transaction after a transient database error. */
export const TRANSIENT_RETRIES = 3;

// PostgreSQL: serialization_failure, deadlock_detected, lock_not_available.
const PG_CODES = new Set(['40001', '40P01', '55P03']);
// MySQL/MariaDB: ER_LOCK_WAIT_TIMEOUT, ER_LOCK_DEADLOCK (by code name and by errno).
const MYSQL_CODES = new Set(['ER_LOCK_WAIT_TIMEOUT', 'ER_LOCK_DEADLOCK']);
const MYSQL_ERRNOS = new Set([1205, 1213]);
// SQLite: the database file is locked by another connection or process.
const SQLITE_CODES = new Set(['SQLITE_BUSY', 'SQLITE_BUSY_SNAPSHOT', 'SQLITE_BUSY_RECOVERY', 'SQLITE_LOCKED']);

/**
 * True for errors that a second run of the same transaction may well not meet:
 * serialization failures, deadlocks, lock timeouts, SQLITE_BUSY. TypeORM wraps
 * driver errors in QueryFailedError and keeps the original as `driverError`.
 */
export function isTransientDbError(err: unknown): boolean {
  for (let e = err as Record<string, unknown> | undefined, depth = 0; e && typeof e === 'object' && depth < 4; depth++) {
    const code = e.code;
    if (typeof code === 'string' && (PG_CODES.has(code) || MYSQL_CODES.has(code) || SQLITE_CODES.has(code))) return true;
    if (typeof e.errno === 'number' && MYSQL_ERRNOS.has(e.errno)) return true;
    e = (e.driverError ?? e.cause) as Record<string, unknown> | undefined;
  }
  return false;
}
