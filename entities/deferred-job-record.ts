import { Column, Entity, getMetadataArgsStorage, Index, PrimaryColumn } from 'typeorm';
import { DeferralError } from '../src/errors.js';
import { nameProblem } from '../src/limits.js';

/** The table name used unless {@link setDeferredJobTable} says otherwise. */
export const DEFAULT_JOB_TABLE = 'deferred_job';

/**
 * One row per deferred job, in your own database: the outbox that makes enqueueing
 * transactional, and the job's durable history. Add it to the DataSource's `entities`.
 * Column types are explicit and portable (SQLite, PostgreSQL, MariaDB/MySQL); times are
 * ISO-8601 UTC strings, which sort and compare correctly as text.
 *
 * @example
 * ```ts
 * new DataSource({ type: 'postgres', entities: [Invoice, DeferredJobRecord], … })
 * ```
 */
@Entity({ name: DEFAULT_JOB_TABLE })
@Index(['model', 'state'])
export class DeferredJobRecord {
  /** The BullMQ job id (a UUID, or your `jobId`). */
  @PrimaryColumn('varchar', { length: 128 }) id!: string;
  @Column('varchar', { length: 16 }) queue!: string;
  /** Entity name (or repository name). */
  @Column('varchar', { length: 255 }) model!: string;
  @Column('varchar', { length: 255 }) method!: string;
  /** Primary keys of the records, as `|1|2|` (composite keys as JSON), for jobsFor(). */
  @Column('varchar', { length: 2048, default: '' }) recordKeys!: string;
  @Column('varchar', { length: 255 }) uid!: string;
  /** pending (committed, not yet in Redis), relaying, queued, delayed, active, completed, failed, cancelled. */
  @Index() @Column('varchar', { length: 16 }) state!: string;
  @Column('integer', { default: 0 }) percent!: number;
  @Column('text', { nullable: true }) message!: string | null;
  @Column('integer', { default: 0 }) attempts!: number;
  /** The result as superjson JSON. */
  @Column('text', { nullable: true }) result!: string | null;
  @Column('text', { nullable: true }) error!: string | null;
  /** The job data and options, so a relay can push a row that never reached Redis. */
  @Column('text') payload!: string;
  @Column('text') jobOptions!: string;
  @Index() @Column('varchar', { length: 24 }) createdAt!: string;
  @Column('varchar', { length: 24, nullable: true }) scheduledAt!: string | null;
  @Column('varchar', { length: 24, nullable: true }) startedAt!: string | null;
  @Column('varchar', { length: 24, nullable: true }) finishedAt!: string | null;
  /** When a relay claimed the row; a claim older than the relay's lease may be taken over. */
  @Column('varchar', { length: 24, nullable: true }) relayedAt!: string | null;
}

/**
 * Renames the job table. Call it before the DataSource is initialized.
 *
 * @example
 * ```ts
 * setDeferredJobTable('app_background_jobs')
 * ```
 */
export function setDeferredJobTable(name: string): void {
  // 63: PostgreSQL's identifier limit (MySQL's is 64).
  const problem = nameProblem(name, 63);
  if (problem) throw new DeferralError('DEFER_ERR_INVALID_OPTION', `Invalid job table name: ${JSON.stringify(name)} ${problem}`, { option: 'name', value: name });
  const table = getMetadataArgsStorage().tables.find((t) => t.target === DeferredJobRecord);
  if (table) table.name = name;
}

/** The table name in force. */
export function deferredJobTable(): string {
  return getMetadataArgsStorage().tables.find((t) => t.target === DeferredJobRecord)?.name ?? DEFAULT_JOB_TABLE;
}
