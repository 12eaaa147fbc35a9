import { createRequire } from 'node:module';
import { QueryFailedError } from 'typeorm';
import { describe, expect, it } from 'vitest';
import { connectionErrorKind, isTransientDbError } from '../../src/worker/transient.js';

// better-sqlite3 ships no types here; only its error class is needed.
const { SqliteError } = createRequire(import.meta.url)('better-sqlite3') as {
  SqliteError: new (message: string, code: string) => Error & { code: string };
};

/** An Error carrying driver fields, like pg, mysql2 and better-sqlite3 throw. */
function driverError(fields: Record<string, unknown>, message = 'driver error'): Error {
  return Object.assign(new Error(message), fields);
}

describe('isTransientDbError()', () => {
  describe('PostgreSQL', () => {
    it.each([
      ['40001', 'serialization_failure'],
      ['40P01', 'deadlock_detected'],
      ['55P03', 'lock_not_available'],
    ])('is true for SQLSTATE %s (%s)', (code) => {
      expect(isTransientDbError(driverError({ code }))).toBe(true);
      expect(isTransientDbError({ code })).toBe(true);
    });

    it('is false for a unique violation 23505', () => {
      expect(isTransientDbError(driverError({ code: '23505' }))).toBe(false);
    });

    it('is false for other constraint and syntax errors', () => {
      for (const code of ['23503', '23502', '42601', '42P01', '57014']) {
        expect(isTransientDbError(driverError({ code })), code).toBe(false);
      }
    });
  });

  describe('MySQL / MariaDB', () => {
    it('is true for ER_LOCK_DEADLOCK', () => {
      expect(isTransientDbError(driverError({ code: 'ER_LOCK_DEADLOCK', errno: 1213 }))).toBe(true);
      expect(isTransientDbError({ code: 'ER_LOCK_DEADLOCK' })).toBe(true);
    });

    it('is true for ER_LOCK_WAIT_TIMEOUT', () => {
      expect(isTransientDbError({ code: 'ER_LOCK_WAIT_TIMEOUT' })).toBe(true);
    });

    it('is true for errno 1213 and 1205 alone', () => {
      expect(isTransientDbError({ errno: 1213 })).toBe(true);
      expect(isTransientDbError({ errno: 1205 })).toBe(true);
    });

    it('is false for ER_DUP_ENTRY / errno 1062', () => {
      expect(isTransientDbError(driverError({ code: 'ER_DUP_ENTRY', errno: 1062 }))).toBe(false);
    });

    it('is false for errno given as a string', () => {
      expect(isTransientDbError({ errno: '1213' })).toBe(false);
    });
  });

  describe('SQLite', () => {
    it('is true for SQLITE_BUSY', () => {
      expect(isTransientDbError({ code: 'SQLITE_BUSY' })).toBe(true);
    });

    it("is true for better-sqlite3's own SqliteError with SQLITE_BUSY", () => {
      const err = new SqliteError('database is locked', 'SQLITE_BUSY');
      expect(isTransientDbError(err)).toBe(true);
    });

    it('is false for SQLITE_CONSTRAINT_UNIQUE', () => {
      const err = new SqliteError('UNIQUE constraint failed: account.id', 'SQLITE_CONSTRAINT_UNIQUE');
      expect(isTransientDbError(err)).toBe(false);
    });
  });

  describe('wrapped errors', () => {
    it("is true when wrapped as { driverError } (TypeORM's QueryFailedError shape)", () => {
      expect(isTransientDbError({ message: 'query failed', driverError: { code: '40001' } })).toBe(true);
      expect(isTransientDbError({ driverError: { code: 'ER_LOCK_DEADLOCK' } })).toBe(true);
      expect(isTransientDbError({ driverError: { errno: 1205 } })).toBe(true);
      expect(isTransientDbError({ driverError: { code: 'SQLITE_BUSY' } })).toBe(true);
    });

    it('is true for a real QueryFailedError around a transient driver error', () => {
      const err = new QueryFailedError('UPDATE account SET balance = 1', [], driverError({ code: '40P01' }, 'deadlock detected'));
      expect(isTransientDbError(err)).toBe(true);
    });

    it('is false for a real QueryFailedError around a unique violation', () => {
      const err = new QueryFailedError('INSERT INTO account', [], driverError({ code: '23505' }, 'duplicate key'));
      expect(isTransientDbError(err)).toBe(false);
    });

    it('is true when the transient error is the cause', () => {
      expect(isTransientDbError(new Error('job step failed', { cause: driverError({ code: '55P03' }) }))).toBe(true);
      expect(isTransientDbError({ cause: { errno: 1213 } })).toBe(true);
    });

    it('is true through a cause and a driverError together', () => {
      const qfe = { driverError: { code: 'SQLITE_BUSY' } };
      expect(isTransientDbError(new Error('outer', { cause: qfe }))).toBe(true);
    });

    it('is false when the wrapped error is not transient', () => {
      expect(isTransientDbError({ driverError: { code: '23505' } })).toBe(false);
      expect(isTransientDbError(new Error('outer', { cause: new Error('inner') }))).toBe(false);
    });

    it('terminates on a cause cycle', () => {
      const a: Record<string, unknown> = { code: 'NOPE' };
      const b: Record<string, unknown> = { cause: a };
      a.cause = b;
      expect(isTransientDbError(a)).toBe(false);
    });
  });

  describe('not database errors', () => {
    it('is false for a plain Error', () => {
      expect(isTransientDbError(new Error('boom'))).toBe(false);
    });

    it('is false for null, undefined, a string, a number and a boolean', () => {
      expect(isTransientDbError(null)).toBe(false);
      expect(isTransientDbError(undefined)).toBe(false);
      expect(isTransientDbError('40001')).toBe(false);
      expect(isTransientDbError('SQLITE_BUSY')).toBe(false);
      expect(isTransientDbError(40001)).toBe(false);
      expect(isTransientDbError(true)).toBe(false);
    });

    it('is false for a numeric code that looks like a pg code', () => {
      expect(isTransientDbError({ code: 40001 })).toBe(false);
    });

    it('is false for a Node system error', () => {
      expect(isTransientDbError(driverError({ code: 'ECONNRESET', errno: -104 }))).toBe(false);
    });
  });
});

describe('connectionErrorKind()', () => {
  it.each([
    ['TypeORM: query runner released', Object.assign(new Error('Query runner already released'), { name: 'QueryRunnerAlreadyReleasedError' })],
    ['TypeORM: connection released under a query runner', Object.assign(new Error('released'), { name: 'QueryRunnerProviderAlreadyReleasedError' })],
    ['mysql2: any fatal error', driverError({ fatal: true }, "Can't add new command when connection is in closed state")],
    ['mysql2: a refused connection', driverError({ code: 'ECONNREFUSED', fatal: true })],
    ['mysql2: connection lost', driverError({ code: 'PROTOCOL_CONNECTION_LOST' })],
    ['MySQL: too many connections', driverError({ code: 'ER_CON_COUNT_ERROR' })],
    ['PostgreSQL: admin shutdown 57P01', driverError({ code: '57P01' })],
    ['PostgreSQL: connection failure 08006', driverError({ code: '08006' })],
    ['PostgreSQL: too many connections 53300', driverError({ code: '53300' })],
    ['node-postgres: connection terminated', new Error('Connection terminated unexpectedly')],
    ['wrapped in a QueryFailedError', new QueryFailedError('SELECT 1', [], driverError({ code: '57P01' }))],
  ])('says database for %s', (_name, err) => {
    expect(connectionErrorKind(err)).toBe('database');
  });

  it.each(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH'])('says socket for a bare %s (it may come from an HTTP call)', (code) => {
    expect(connectionErrorKind(driverError({ code, syscall: 'connect' }))).toBe('socket');
    expect(connectionErrorKind(new TypeError('fetch failed', { cause: driverError({ code }) }))).toBe('socket');
  });

  it.each([
    ['a unique violation', driverError({ code: '23505' })],
    ['a deadlock (transient, not a connection error)', driverError({ code: '40P01' })],
    ['a plain error', new Error('nope')],
    ['a string', 'ECONNREFUSED'],
    ['undefined', undefined],
  ])('says nothing for %s', (_name, err) => {
    expect(connectionErrorKind(err)).toBeUndefined();
  });
});
