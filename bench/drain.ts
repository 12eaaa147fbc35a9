import { randomUUID } from 'node:crypto';
import { Queue, QueueEvents, Worker } from 'bullmq';
import { closeDeferred, configure, Deferred, DeferredType, startWorker } from '../src/index.js';
import type { BenchContext } from './context.js';
import { clearRows, expectRows } from './job-table.js';
import { JOB_NAME, QUEUE, RAW_JOB_OPTIONS, rawPayload, UID } from './payload.js';
import { LIBRARY_OPTIONS, openRedis, REDIS_URL, shortKind, type BenchDb } from './services.js';
import { clocked, timeCalls, type Measure } from './stats.js';

/** How many enqueue calls the (untimed) pre-fill keeps in flight. */
export const PREFILL_IN_FLIGHT = 50;

/** `ours` with a transaction per job (the default) or with `DeferredType({ transaction: false })`. */
export type OursVariant = 'tx' | 'no-tx';
const DeferredNoTx = DeferredType({ transaction: false });

export interface Consumer {
  close(): Promise<void>;
}

/** One side of a drain comparison: how to pre-fill its queue and start its consumer. */
export interface DrainSide {
  prefill(n: number): Promise<void>;
  startConsumer(concurrency: number): Promise<Consumer>;
  /** Checks, untimed, what the drain left besides Redis (the job table). */
  check?(n: number): Promise<void>;
  close(): Promise<void>;
}

/** Runs every step even when one fails, then throws the first failure. */
export async function runAll(steps: Array<() => Promise<unknown> | undefined>): Promise<void> {
  let first: unknown;
  for (const step of steps) {
    try {
      await step();
    } catch (err) {
      first ??= err;
    }
  }
  if (first !== undefined) throw first;
}

/** Resolves at the n-th 'completed' event; rejects on the first 'failed' one or after `timeoutMs`. */
function completions(events: QueueEvents, n: number, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let done = 0;
    const timer = setTimeout(() => reject(new Error(`drain timed out after ${timeoutMs} ms: ${done} of ${n} jobs completed`)), timeoutMs);
    events.on('completed', () => {
      if (++done === n) {
        clearTimeout(timer);
        resolve();
      }
    });
    events.on('failed', ({ jobId, failedReason }) => {
      clearTimeout(timer);
      reject(new Error(`job ${jobId} failed: ${failedReason}`));
    });
  });
}

/**
 * Pauses the queue, pre-fills it with `n` jobs, starts the consumer (which then
 * waits, ready), and times from `resume()` to the n-th completion event read
 * by our own QueueEvents. Connection set-up is thus outside the timed window.
 */
export async function timeDrain(ctx: BenchContext, prefix: string, n: number, concurrency: number, side: DrainSide): Promise<Measure> {
  const control = new Queue(QUEUE, { connection: ctx.control, prefix });
  control.on('error', () => undefined);
  let events: QueueEvents | undefined;
  let consumer: Consumer | undefined;
  try {
    await control.pause();
    await side.prefill(n);
    const before = await control.getJobCounts('wait', 'active', 'completed', 'failed');
    if (before.wait !== n) throw new Error(`pre-fill left ${JSON.stringify(before)}, expected ${n} waiting jobs`);

    // Read events from the last one written so far: nothing of the pre-fill, nothing of the drain missed.
    const last = await ctx.control.xrevrange(`${prefix}:${QUEUE}:events`, '+', '-', 'COUNT', 1);
    events = new QueueEvents(QUEUE, { connection: { url: REDIS_URL }, prefix, lastEventId: last[0]?.[0] ?? '0' });
    events.on('error', () => undefined);
    const finished = completions(events, n, 120_000 + n * 50);
    finished.catch(() => undefined);
    await events.waitUntilReady();
    consumer = await side.startConsumer(concurrency);

    const { ms, cpuMicros } = await clocked(async () => {
      await control.resume();
      await finished;
    });

    const after = await control.getJobCounts('completed', 'failed', 'wait', 'active');
    if (after.failed || after.wait || after.active) throw new Error(`after the drain: ${JSON.stringify(after)}`);
    await side.check?.(n);
    return { rate: (n * 1000) / ms, cpuPerJob: cpuMicros / n };
  } finally {
    await runAll([
      () => consumer?.close(),
      () => events?.close(),
      () => control.close(),
      () => side.close(),
      () => ctx.dropPrefix(prefix),
    ]);
  }
}

/**
 * Jobs/s of our startWorker draining `n` pre-filled `Deferred(record, db, uid, 'noop')` jobs.
 * On a data source with the job table, the pre-fill writes a row per job (then `queued`) and the
 * worker marks it active, reads it in the job's transaction and completes it there; every row
 * must be `completed` afterwards, and the table is emptied.
 */
export async function oursDrain(ctx: BenchContext, db: BenchDb, variant: OursVariant, n: number, concurrency: number): Promise<Measure> {
  const prefix = ctx.newPrefix(`ours-drain-${shortKind(db)}-${variant}${db.jobTable ? '-jt' : ''}-c${concurrency}`);
  configure({ connection: REDIS_URL, prefix, dataSources: { main: db.dataSource }, ...LIBRARY_OPTIONS });
  const defer = variant === 'no-tx' ? DeferredNoTx : Deferred;
  return timeDrain(ctx, prefix, n, concurrency, {
    async prefill(count) {
      await timeCalls(count, PREFILL_IN_FLIGHT, () => defer(db.record, db.dataSource, UID, 'noop'));
    },
    // No relay: every row is in Redis already, and its rounds would only add queries to the timed window.
    startConsumer: (c) => startWorker({ queues: { default: c, high: 0, low: 0 }, shutdownTimeoutMs: 5_000, relay: false }),
    check: db.jobTable ? (count) => expectRows(db, count, 'completed') : undefined,
    close: () => runAll([() => closeDeferred(), () => (db.jobTable ? clearRows(db) : undefined)]),
  });
}

/** Jobs/s of a raw BullMQ Worker with `async () => null` draining `n` pre-filled jobs of the same size. */
export async function rawDrain(ctx: BenchContext, db: BenchDb, n: number, concurrency: number): Promise<Measure> {
  const prefix = ctx.newPrefix(`raw-drain-c${concurrency}`);
  const producer = openRedis();
  const queue = new Queue(QUEUE, { connection: producer, prefix });
  queue.on('error', () => undefined);
  return timeDrain(ctx, prefix, n, concurrency, {
    async prefill(count) {
      await timeCalls(count, PREFILL_IN_FLIGHT, () => queue.add(JOB_NAME, rawPayload(db.record), { jobId: randomUUID(), ...RAW_JOB_OPTIONS }));
    },
    async startConsumer(c) {
      // As startWorker does: one client of our own for the worker, BullMQ duplicates it for blocking reads.
      const client = openRedis('worker');
      const worker = new Worker(QUEUE, async () => null, { connection: client, prefix, concurrency: c });
      worker.on('error', () => undefined);
      await worker.waitUntilReady();
      return {
        close: () => runAll([() => worker.close(), () => client.quit().catch(() => client.disconnect())]),
      };
    },
    close: () => runAll([() => queue.close(), () => producer.quit().catch(() => producer.disconnect())]),
  });
}
