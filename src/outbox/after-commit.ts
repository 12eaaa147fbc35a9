import type { DataSource, EntitySubscriberInterface, QueryRunner } from 'typeorm';

interface Pending {
  /** The transaction depth the work was registered at (savepoints count). */
  depth: number;
  run: () => Promise<void>;
  /** Told when the work will never run (its transaction or savepoint rolled back). */
  dropped?: () => void;
}

const pendingByRunner = new WeakMap<QueryRunner, Pending[]>();
const depthOf = (qr: QueryRunner) => (qr as unknown as { transactionDepth: number }).transactionDepth;

/**
 * Runs `run` once the outermost transaction of `queryRunner` commits, and never if it
 * (or the savepoint the work was registered in) rolls back.
 */
export function afterCommit(queryRunner: QueryRunner, run: () => Promise<void>, dropped?: () => void): void {
  let list = pendingByRunner.get(queryRunner);
  if (!list) pendingByRunner.set(queryRunner, (list = []));
  list.push({ depth: depthOf(queryRunner), run, dropped });
}

/** A push that waits for a commit, as the job handle of that push sees it. */
export class CommitGate {
  state: 'waiting' | 'pushed' | 'dropped' | 'failed' = 'waiting';
  /** Why the push failed, for `result()` to say (state `failed`). */
  error?: unknown;
}

/** True when `queryRunner` is inside a transaction (the caller's EntityManager of a `transaction()` callback). */
export function inTransaction(queryRunner: QueryRunner | undefined): queryRunner is QueryRunner {
  return queryRunner?.isTransactionActive === true;
}

// TypeORM tells subscribers about every commit and rollback, savepoints included.
const subscriber: EntitySubscriberInterface = {
  afterTransactionCommit({ queryRunner }) {
    const list = pendingByRunner.get(queryRunner);
    if (!list) return;
    if (queryRunner.isTransactionActive) {
      // A savepoint was released: its work now belongs to the enclosing level.
      const depth = depthOf(queryRunner);
      for (const p of list) p.depth = Math.min(p.depth, depth);
      return;
    }
    pendingByRunner.delete(queryRunner);
    // Not awaited: the caller's commit has succeeded and must not wait on Redis; failures stay pending for the relay.
    for (const p of list) void p.run().catch(() => undefined);
  },
  afterTransactionRollback({ queryRunner }) {
    const list = pendingByRunner.get(queryRunner);
    if (!list) return;
    const depth = queryRunner.isTransactionActive ? depthOf(queryRunner) : 0;
    for (const p of list) if (p.depth > depth) p.dropped?.();
    const kept = list.filter((p) => p.depth <= depth);
    if (kept.length) pendingByRunner.set(queryRunner, kept);
    else pendingByRunner.delete(queryRunner);
  },
};

/** Lets the data source tell us about commits and rollbacks (idempotent). */
export function watchTransactions(dataSource: DataSource): void {
  if (!dataSource.subscribers.includes(subscriber)) dataSource.subscribers.push(subscriber);
}
