import { Queue, Worker, type Job } from 'bullmq';
import type { DataSource, EntityManager } from 'typeorm';
import type { BenchContext } from './context.js';
import { PREFILL_IN_FLIGHT, runAll, timeDrain, type OursVariant } from './drain.js';
import { BenchItem } from './entities.js';
import { JOB_NAME, QUEUE, RAW_JOB_OPTIONS } from './payload.js';
import { openRedis, shortKind, type BenchDb } from './services.js';
import { timeCalls, type Measure } from './stats.js';

/**
 * The worker a user would write by hand with BullMQ and TypeORM (issue 11): `queue.add(name, { id })`
 * with the retention Deferred() sets by default, and a BullMQ Worker whose processor reloads the
 * record in a transaction and calls its method. The yardstick "ours ÷ hand-written" is measured against.
 */

/** The job data a user would enqueue: the record's primary key, nothing else. */
export interface HandData {
  id: number;
}

/** Only the retention (BullMQ's own default is to keep every job forever); attempts stays BullMQ's default, 1. */
export const HAND_JOB_OPTIONS = {
  removeOnComplete: RAW_JOB_OPTIONS.removeOnComplete,
  removeOnFail: RAW_JOB_OPTIONS.removeOnFail,
};

/** The hand-written enqueue of one job. */
export const handAdd = (queue: Queue, db: BenchDb) => queue.add(JOB_NAME, { id: db.record.id } satisfies HandData, HAND_JOB_OPTIONS);

/**
 * better-sqlite3 has one connection: two TypeORM transactions on it at once interleave their
 * BEGIN/SAVEPOINT/COMMIT and fail. A user running the worker at concurrency > 1 has to queue them,
 * as our worker does (one job's database work at a time per data source); elsewhere they run at once.
 */
function oneAtATime(dataSource: DataSource): <T>(fn: () => Promise<T>) => Promise<T> {
  if (dataSource.options.type !== 'better-sqlite3') return (fn) => fn();
  let tail: Promise<unknown> = Promise.resolve();
  return (fn) => {
    const next = tail.then(fn, fn);
    tail = next.catch(() => undefined);
    return next;
  };
}

/**
 * The hand-written processor: `dataSource.transaction((m) => m.findOneBy(BenchItem, { id }))`, then
 * the record's method, whose result is the job's. With `variant` 'no-tx' (the counterpart of
 * `DeferredType({ transaction: false })`) the record is read without a transaction.
 */
export function handProcessor(db: BenchDb, variant: OursVariant): (job: Job<HandData>) => Promise<unknown> {
  const { dataSource } = db;
  const load = async (manager: EntityManager, id: number) => {
    const item = await manager.findOneBy(BenchItem, { id });
    if (!item) throw new Error(`BenchItem ${id} not found`);
    return item.noop();
  };
  if (variant === 'no-tx') return (job) => load(dataSource.manager, job.data.id);
  const alone = oneAtATime(dataSource);
  return (job) => alone(() => dataSource.transaction((m) => load(m, job.data.id)));
}

/**
 * Jobs/s of the hand-written Worker draining `n` jobs pre-filled by the hand-written enqueue, timed
 * as the other drains are (pause, pre-fill, consumer ready, clock from resume() to the n-th
 * completion). A data source with the job table is used as it is: the hand-written side has no rows.
 */
export async function handDrain(ctx: BenchContext, db: BenchDb, variant: OursVariant, n: number, concurrency: number): Promise<Measure> {
  const prefix = ctx.newPrefix(`hand-drain-${shortKind(db)}-${variant}-c${concurrency}`);
  const producer = openRedis();
  const queue = new Queue(QUEUE, { connection: producer, prefix });
  queue.on('error', () => undefined);
  return timeDrain(ctx, prefix, n, concurrency, {
    async prefill(count) {
      await timeCalls(count, PREFILL_IN_FLIGHT, () => handAdd(queue, db));
    },
    async startConsumer(c) {
      const client = openRedis('worker');
      const worker = new Worker<HandData>(QUEUE, handProcessor(db, variant), { connection: client, prefix, concurrency: c });
      worker.on('error', () => undefined);
      await worker.waitUntilReady();
      return {
        close: () => runAll([() => worker.close(), () => client.quit().catch(() => client.disconnect())]),
      };
    },
    close: () => runAll([() => queue.close(), () => producer.quit().catch(() => producer.disconnect())]),
  });
}
