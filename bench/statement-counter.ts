import type { Logger, QueryRunner } from 'typeorm';

/**
 * Counting SQL statements through a TypeORM logger: what the bench's counts and the cost test
 * (test/integration/cost.per-job.test.ts) both read. Counts do not drift with the machine's load.
 */

/** What a SQL statement does, as the cost tables group them. */
export type SqlKind = 'BEGIN' | 'SELECT' | 'SELECT FOR UPDATE' | 'INSERT' | 'UPDATE' | 'DELETE' | 'COMMIT' | 'ROLLBACK' | 'OTHER';
export const SQL_KINDS: SqlKind[] = ['BEGIN', 'SELECT', 'SELECT FOR UPDATE', 'INSERT', 'UPDATE', 'DELETE', 'COMMIT', 'ROLLBACK', 'OTHER'];

/** One statement a data source sent; `autocommit`: a write outside any transaction (its own commit). */
export interface Statement {
  kind: SqlKind;
  autocommit: boolean;
  sql: string;
}

/** The kind of a statement, from its first words (a leading comment is skipped). */
export function sqlKind(sql: string): SqlKind {
  const s = sql.replace(/^\s*(\/\*.*?\*\/\s*)*/s, '').toUpperCase();
  if (/^(START TRANSACTION|BEGIN)/.test(s)) return 'BEGIN';
  if (s.startsWith('COMMIT')) return 'COMMIT';
  if (s.startsWith('ROLLBACK')) return 'ROLLBACK';
  if (s.startsWith('SELECT')) return /\bFOR UPDATE\b|\bFOR NO KEY UPDATE\b/.test(s) ? 'SELECT FOR UPDATE' : 'SELECT';
  for (const kind of ['INSERT', 'UPDATE', 'DELETE'] as const) if (s.startsWith(kind)) return kind;
  return 'OTHER';
}

/** A statement sent to wait for something carries this comment; the counter skips it. */
export const PROBE = 'cost-probe';

/**
 * A TypeORM logger that records every statement (TypeORM 1.x calls `logQuery` of a custom logger for
 * each one, START TRANSACTION and COMMIT included, whatever `logging` says).
 */
export class StatementCounter implements Logger {
  private statements: Statement[] = [];
  /** Statements ever seen: a caller can wait until it stops moving. */
  seen = 0;

  logQuery(query: string, _parameters?: unknown, queryRunner?: QueryRunner): void {
    if (query.includes(PROBE)) return;
    this.seen++;
    const kind = sqlKind(query);
    const write = kind === 'INSERT' || kind === 'UPDATE' || kind === 'DELETE';
    this.statements.push({ kind, autocommit: write && !queryRunner?.isTransactionActive, sql: query });
  }

  /** The statements recorded since the last call. */
  take(): Statement[] {
    const taken = this.statements;
    this.statements = [];
    return taken;
  }

  logQueryError(): void {}
  logQuerySlow(): void {}
  logSchemaBuild(): void {}
  logMigration(): void {}
  log(): void {}
}
