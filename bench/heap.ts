/**
 * Does our worker keep memory per job? Drains 3 rounds of BENCH_HEAP_N (default 100000) jobs through
 * Deferred() and startWorker and prints heapUsed after a forced gc() before the first round and after
 * each one. `npm run bench:heap` (= node --expose-gc dist/bench/heap.js); BENCH_HEAP_DB=postgres|sqlite
 * (default postgres), BENCH_HEAP_TABLE=1 for the job table, BENCH_HEAP_CONCURRENCY (default 10).
 * Jobs are enqueued while the worker drains, at most BACKLOG ahead of it, so Redis holds a bounded
 * number of jobs (waiting ones, plus the 10000 completed ones the default retention keeps).
 */
import 'reflect-metadata';
import { randomUUID } from 'node:crypto';
import { Queue } from 'bullmq';
import { closeDeferred, configure, Deferred, startWorker, type DeferredWorker } from '../src/index.js';
import { runAll } from './drain.js';
import { clearRows } from './job-table.js';
import { QUEUE, UID } from './payload.js';
import { deleteKeys, LIBRARY_OPTIONS, openPostgres, openRedis, openSqlite, REDIS_URL, type BenchDb } from './services.js';
import { positiveInt, timeCalls } from './stats.js';

const ROUNDS = 3;
const N = positiveInt('BENCH_HEAP_N', 100_000);
const CONCURRENCY = positiveInt('BENCH_HEAP_CONCURRENCY', 10);
const DB = process.env.BENCH_HEAP_DB || 'postgres';
const JOB_TABLE = process.env.BENCH_HEAP_TABLE === '1';
/** Enqueue calls in flight, and how many jobs may wait ahead of the worker before the producer waits. */
const IN_FLIGHT = 50;
const CHUNK = 500;
const BACKLOG = 2_000;

const gc = (globalThis as { gc?: () => void }).gc;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const mb = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MB`;

/** heapUsed after a full collection (twice, with a pause between, so finalizers and weak references settle). */
async function settledHeap(): Promise<{ heapUsed: number; rss: number }> {
  for (let i = 0; i < 2; i++) {
    gc!();
    await sleep(100);
  }
  gc!();
  const { heapUsed, rss } = process.memoryUsage();
  return { heapUsed, rss };
}

/** Until the queue has nothing waiting or active; fails on a failed job. */
async function drained(queue: Queue): Promise<void> {
  for (;;) {
    const c = await queue.getJobCounts('wait', 'prioritized', 'delayed', 'active', 'failed');
    if (c.failed) throw new Error(`${c.failed} job(s) failed`);
    if (!c.wait && !c.prioritized && !c.delayed && !c.active) return;
    await sleep(50);
  }
}

/** One round: `n` jobs enqueued CHUNK at a time (IN_FLIGHT in flight) while the worker drains, never more than BACKLOG ahead. */
async function round(db: BenchDb, queue: Queue, n: number): Promise<number> {
  const t0 = performance.now();
  for (let done = 0; done < n;) {
    while ((await queue.count()) > BACKLOG) await sleep(20);
    const count = Math.min(CHUNK, n - done);
    await timeCalls(count, IN_FLIGHT, () => Deferred(db.record, db.dataSource, UID, 'noop'));
    done += count;
  }
  await drained(queue);
  return performance.now() - t0;
}

async function openDb(): Promise<BenchDb> {
  if (DB === 'postgres') return openPostgres(10, { jobTable: JOB_TABLE });
  if (DB === 'sqlite') return openSqlite({ jobTable: JOB_TABLE });
  throw new Error(`BENCH_HEAP_DB must be postgres or sqlite, not ${JSON.stringify(DB)}`);
}

async function main(): Promise<void> {
  if (!gc) throw new Error('run with node --expose-gc (npm run bench:heap)');
  const prefix = `bench-heap-${randomUUID().slice(0, 8)}`;
  const control = openRedis();
  const queue = new Queue(QUEUE, { connection: control, prefix });
  queue.on('error', () => undefined);
  let db: BenchDb | undefined;
  let worker: DeferredWorker | undefined;
  try {
    db = await openDb();
    configure({ connection: REDIS_URL, prefix, dataSources: { main: db.dataSource }, ...LIBRARY_OPTIONS });
    worker = await startWorker({ queues: { default: CONCURRENCY, high: 0, low: 0 }, shutdownTimeoutMs: 5_000, relay: false });
    console.log(`heap: ${ROUNDS} rounds of ${N} jobs through Deferred() + startWorker (concurrency ${CONCURRENCY}, relay off) on ${db.version}; node ${process.version}`);
    console.log(`enqueued while the worker drains (${IN_FLIGHT} in flight, at most ${BACKLOG} waiting); heapUsed after a forced gc()`);
    const heaps = [await settledHeap()];
    console.log(`before round 1: heapUsed ${mb(heaps[0].heapUsed)} (rss ${mb(heaps[0].rss)})`);
    for (let r = 1; r <= ROUNDS; r++) {
      const ms = await round(db, queue, N);
      // Untimed: the job table would otherwise grow by N rows a round.
      if (db.jobTable) await clearRows(db);
      const heap = await settledHeap();
      heaps.push(heap);
      const delta = heap.heapUsed - heaps[r - 1].heapUsed;
      console.log(`after round ${r}:  heapUsed ${mb(heap.heapUsed)} (${delta >= 0 ? '+' : ''}${mb(delta)}; rss ${mb(heap.rss)}), ${Math.round((N * 1000) / ms).toLocaleString('en-US')} jobs/s`);
    }
    const per100k = (from: number, to: number) => mb(((heaps[to].heapUsed - heaps[from].heapUsed) / ((to - from) * N)) * 100_000);
    console.log(`growth per 100k jobs: ${per100k(1, ROUNDS)} from round 1 to round ${ROUNDS} (warm), ${per100k(0, ROUNDS)} over all ${ROUNDS} rounds (first-use allocations included)`);
  } finally {
    await runAll([
      () => worker?.close(),
      () => closeDeferred(),
      () => queue.close(),
      () => db?.close(),
    ]);
    const left = await deleteKeys(control, `${prefix}:*`);
    await control.quit().catch(() => control.disconnect());
    console.log(`cleanup: ${left} keys of ${prefix} deleted${db?.kind === 'PostgreSQL' ? ', PostgreSQL schema dropped' : ''}`);
  }
}

// It must exit by itself: say so rather than hang should a handle stay open.
main().then(
  () => setTimeout(() => { process.stderr.write('bench:heap: handles still open 10 s after the end; exiting\n'); process.exit(2); }, 10_000).unref(),
  (err) => {
    process.exitCode = 1;
    process.stderr.write(`bench:heap failed: ${err instanceof Error ? err.stack : String(err)}\n`);
    setTimeout(() => process.exit(1), 10_000).unref();
  },
);
