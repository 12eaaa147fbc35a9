import type { DataSource, EntityManager } from 'typeorm';
import { DeferredJobRecord } from '../../entities/deferred-job-record.js';

/**
 * The job table's two statements on the hot path (a job's INSERT at enqueue, and the UPDATE that
 * completes its row), as plain SQL built once per data source. TypeORM's query builder rewrites a
 * query for each of the table's columns every time it builds one: on this table that costs more
 * CPU than the statement itself. Drivers not listed here go through the query builder as before.
 */
interface Statements {
  columns: Array<keyof DeferredJobRecord>;
  insert: string;
  complete: string;
}

type Dialect = 'postgres' | 'mysql' | 'sqlite';

const DIALECTS: Record<string, Dialect> = { postgres: 'postgres', mysql: 'mysql', mariadb: 'mysql', 'better-sqlite3': 'sqlite' };

/** The fields the completing UPDATE sets, in the order of its parameters (the row's id comes last). */
export const COMPLETE_FIELDS = ['result', 'message', 'attempts', 'startedAt', 'finishedAt'] as const;

/** States a row can be completed from: anything but completed and cancelled. */
const OPEN_STATES = "'pending', 'relaying', 'queued', 'delayed', 'active', 'failed'";

const cache = new WeakMap<DataSource, Statements | null>();

function build(ds: DataSource): Statements | null {
  const dialect = DIALECTS[ds.options.type];
  if (!dialect) return null;
  const { driver } = ds;
  const metadata = ds.getMetadata(DeferredJobRecord);
  // `schema.table` (or `database.table`) when the data source names one, each part quoted, as TypeORM does.
  const target = metadata.tablePath.split('.').map((part) => driver.escape(part)).join('.');
  const column = (property: string) => driver.escape(metadata.findColumnWithPropertyName(property)!.databaseName);
  const param = (i: number) => driver.createParameter(`p${i}`, i);
  const columns = metadata.columns.map((c) => c.propertyName as keyof DeferredJobRecord);
  const values = columns.map((_, i) => param(i)).join(', ');
  const into = `${target} (${columns.map(column).join(', ')}) VALUES (${values})`;
  const insert = dialect === 'postgres' ? `INSERT INTO ${into} ON CONFLICT DO NOTHING`
    : dialect === 'mysql' ? `INSERT IGNORE INTO ${into}` : `INSERT OR IGNORE INTO ${into}`;
  const sets = COMPLETE_FIELDS.map((f, i) => `${column(f)} = ${param(i)}`).join(', ');
  const complete = `UPDATE ${target} SET ${column('state')} = 'completed', ${column('percent')} = 100, ${column('error')} = NULL, ${sets} `
    + `WHERE ${column('id')} = ${param(COMPLETE_FIELDS.length)} AND ${column('state')} IN (${OPEN_STATES})`;
  return { columns, insert, complete };
}

/** The data source's statements, or null when its driver goes through the query builder. */
function statements(ds: DataSource): Statements | null {
  let found = cache.get(ds);
  if (found === undefined) cache.set(ds, (found = build(ds)));
  return found;
}

/** Inserts a new row through `manager` (in its transaction, if any); a row with the same id already there is left alone. */
export async function insertRecord(manager: EntityManager, row: DeferredJobRecord): Promise<void> {
  const sql = statements(manager.connection);
  if (!sql) {
    await manager.createQueryBuilder().insert().into(DeferredJobRecord).values(row).orIgnore().updateEntity(false).execute();
    return;
  }
  await manager.query(sql.insert, sql.columns.map((c) => row[c]));
}

/**
 * Completes a row that is neither completed nor cancelled, in the transaction of `manager`;
 * resolves whether a row was updated, or undefined when this driver has no plain statement
 * (or `manager` no transaction) and the caller should use the query builder.
 */
export async function completeRecordRow(manager: EntityManager, id: string, fields: Record<(typeof COMPLETE_FIELDS)[number], unknown>): Promise<boolean | undefined> {
  const sql = statements(manager.connection);
  const runner = manager.queryRunner;
  if (!sql || !runner) return undefined;
  const result = await runner.query(sql.complete, [...COMPLETE_FIELDS.map((f) => fields[f]), id], true) as { affected?: number };
  return (result.affected ?? 0) > 0;
}
