import { DeferredJobRecord, type RecordState } from '../src/index.js';
import type { BenchDb } from './services.js';

/** How many rows of the data source's job table are in `state` (all rows without one). */
export function countRows(db: BenchDb, state?: RecordState): Promise<number> {
  const rows = db.dataSource.getRepository(DeferredJobRecord);
  return state === undefined ? rows.count() : rows.countBy({ state });
}

/**
 * Empties the job table (TRUNCATE on PostgreSQL and MariaDB, DELETE on SQLite), untimed, after each trial:
 * every trial then starts from an empty table instead of one that grows run after run.
 */
export async function clearRows(db: BenchDb): Promise<void> {
  await db.dataSource.getRepository(DeferredJobRecord).clear();
}

/** Fails unless the job table holds exactly `n` rows, all in `state`. */
export async function expectRows(db: BenchDb, n: number, state: RecordState): Promise<void> {
  const [all, inState] = await Promise.all([countRows(db), countRows(db, state)]);
  if (all !== n || inState !== n) throw new Error(`job table of ${db.kind}: ${inState} of ${all} rows ${state}, expected ${n}`);
}
