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

// TypeORM's errors for a connection that went away under a query runner, or never came.
const TYPEORM_CONNECTION_ERRORS = new Set([
  'QueryRunnerAlreadyReleasedError', 'QueryRunnerProviderAlreadyReleasedError', 'ConnectionIsNotSetError', 'CannotExecuteNotConnectedError',
]);
// PostgreSQL: admin_shutdown, crash_shutdown, cannot_connect_now, too_many_connections (class 08 is matched by prefix).
const PG_CONNECTION_CODES = new Set(['57P01', '57P02', '57P03', '53300']);
// mysql2 marks connection-level errors `fatal`; these codes also say the server went away.
const MYSQL_CONNECTION_CODES = new Set(['PROTOCOL_CONNECTION_LOST', 'ER_CON_COUNT_ERROR', 'ER_SERVER_SHUTDOWN', 'ER_CONNECTION_KILLED']);
// node-postgres' own messages when its socket ends.
const PG_CONNECTION_MESSAGES = /^(Connection terminated|Client has encountered a connection error|timeout exceeded when trying to connect)/;
// Socket errors any client can raise: from the database driver, or from an HTTP call the method made.
const SOCKET_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENETDOWN', 'EAI_AGAIN', 'ECONNABORTED']);

/**
 * Whether an error says a connection failed: `'database'` when the database driver or TypeORM says
 * so, `'socket'` for a bare socket error that may come from anywhere (ask the database), or
 * undefined for every other error.
 */
export function connectionErrorKind(err: unknown): 'database' | 'socket' | undefined {
  let socket = false;
  for (let e = err as Record<string, unknown> | undefined, depth = 0; e && typeof e === 'object' && depth < 4; depth++) {
    const { code, name, message } = e;
    if (typeof name === 'string' && TYPEORM_CONNECTION_ERRORS.has(name)) return 'database';
    if (e.fatal === true || (typeof code === 'string' && (MYSQL_CONNECTION_CODES.has(code) || PG_CONNECTION_CODES.has(code) || /^08[0-9A-Z]{3}$/.test(code)))) return 'database';
    if (typeof message === 'string' && PG_CONNECTION_MESSAGES.test(message)) return 'database';
    if (typeof code === 'string' && SOCKET_CODES.has(code)) socket = true;
    e = (e.driverError ?? e.cause) as Record<string, unknown> | undefined;
  }
  return socket ? 'socket' : undefined;
}
