import { randomUUID } from 'node:crypto';
import { Queue } from 'bullmq';
import { closeDeferred, configure, Deferred } from '../src/index.js';
import type { BenchContext } from './context.js';
import { handAdd } from './handwritten.js';
import { clearRows, expectRows } from './job-table.js';
import { JOB_NAME, QUEUE, RAW_JOB_OPTIONS, rawPayload, UID } from './payload.js';
import { LIBRARY_OPTIONS, openRedis, REDIS_URL, type BenchDb } from './services.js';
import { clocked, rotate, timeCalls, type Measure } from './stats.js';

/** Untimed calls before each timed run: they open the connections and load the scripts. */
const WARMUP_CALLS = 50;

/** Calls are timed in blocks of this many, the sides taking turns, so all meet the same machine load. */
const BLOCK = 250;

/** How the calls of one enqueue pair are made. */
export interface EnqueueMode {
  /** Calls pending at once, on each side. */
  inFlight: number;
  /**
   * Ours defers inside a transaction of its own per call,
   * `dataSource.transaction((m) => Deferred(record, m, uid, 'noop'))`. The push to Redis follows
   * the commit and the commit does not wait for it, so a timed block of ours ends only once every
   * job of the block is in Redis. Sequential only on SQLite: one connection. The hand-written side
   * then commits a transaction of its own per call (empty) and, after the commit, calls `queue.add`.
   * @defaultValue `false`
   */
  inTransaction?: boolean;
}

/**
 * Resolves once `queue` holds `expected` jobs. With the job table the after-commit work writes
 * nothing to the row; it ends with one read of the job's cancel mark after the push, which this
 * poll does not wait for (one Redis round trip per job may spill into the next block).
 */
async function untilPushed(queue: Queue, expected: number): Promise<void> {
  const deadline = performance.now() + 30_000;
  for (;;) {
    const inRedis = await queue.count();
    if (inRedis >= expected) return;
    if (performance.now() > deadline) throw new Error(`after-commit pushes: ${inRedis} of ${expected} jobs in Redis after 30 s`);
    await new Promise(setImmediate);
  }
}

/** What one enqueue or drain trial gives: a measure per side. */
export interface Trial {
  ours: Measure;
  raw: Measure;
  hand: Measure;
}

/**
 * Jobs/s of `Deferred(record, db, uid, 'noop')`, of `queue.add(name, payload,
 * { jobId: randomUUID(), ...RAW_JOB_OPTIONS })` on a raw BullMQ Queue, and of the hand-written
 * `queue.add(name, { id }, retention)`, `mode.inFlight` calls at a time, each on a fresh prefix.
 * The three producers are open for the whole trial; the n calls of each side run in blocks that
 * take turns between the sides, the order rotated by `turn`. Afterwards each queue must hold
 * every job, and a job table one `queued` row per job; the table is then emptied.
 */
export async function enqueueTrial(ctx: BenchContext, db: BenchDb, n: number, mode: EnqueueMode, turn: number): Promise<Trial> {
  const { inFlight, inTransaction = false } = mode;
  if (inTransaction && inFlight > 1 && db.kind === 'SQLite') throw new Error('enqueue in a transaction on SQLite: one call at a time (one connection)');
  const oursPrefix = ctx.newPrefix(`ours-enq${inTransaction ? '-tx' : ''}${db.jobTable ? '-jt' : ''}`);
  const rawPrefix = ctx.newPrefix('raw-enq');
  const handPrefix = ctx.newPrefix(`hand-enq${inTransaction ? '-tx' : ''}`);
  configure({ connection: REDIS_URL, prefix: oursPrefix, dataSources: { main: db.dataSource }, ...LIBRARY_OPTIONS });
  const client = openRedis();
  const queue = new Queue(QUEUE, { connection: client, prefix: rawPrefix });
  queue.on('error', () => undefined);
  const handClient = openRedis();
  const handQueue = new Queue(QUEUE, { connection: handClient, prefix: handPrefix });
  handQueue.on('error', () => undefined);
  const oursQueue = new Queue(QUEUE, { connection: ctx.control, prefix: oursPrefix });
  oursQueue.on('error', () => undefined);
  const settled = async () => undefined;
  try {
    const sides = [
      {
        name: 'ours', ms: 0, cpu: 0,
        call: inTransaction
          ? () => db.dataSource.transaction((m) => Deferred(db.record, m, UID, 'noop'))
          : () => Deferred(db.record, db.dataSource, UID, 'noop'),
        settle: inTransaction ? (expected: number) => untilPushed(oursQueue, expected) : settled,
      },
      {
        name: 'raw', ms: 0, cpu: 0,
        call: () => queue.add(JOB_NAME, rawPayload(db.record), { jobId: randomUUID(), ...RAW_JOB_OPTIONS }),
        settle: settled,
      },
      {
        name: 'hand', ms: 0, cpu: 0,
        call: inTransaction
          ? async () => {
            await db.dataSource.transaction(async () => undefined);
            return handAdd(handQueue, db);
          }
          : () => handAdd(handQueue, db),
        settle: settled,
      },
    ];
    const order = rotate(sides, turn);
    for (const side of order) {
      await timeCalls(WARMUP_CALLS, inFlight, side.call);
      await side.settle(WARMUP_CALLS);
    }
    for (let done = 0; done < n; done += BLOCK) {
      const count = Math.min(BLOCK, n - done);
      for (const side of order) {
        const { ms, cpuMicros } = await clocked(async () => {
          await timeCalls(count, inFlight, side.call);
          await side.settle(WARMUP_CALLS + done + count);
        });
        side.ms += ms;
        side.cpu += cpuMicros;
      }
    }
    const total = WARMUP_CALLS + n;
    const [oursJobs, rawJobs, handJobs] = await Promise.all([oursQueue.count(), queue.count(), handQueue.count()]);
    if (oursJobs !== total || rawJobs !== total || handJobs !== total) {
      throw new Error(`after the enqueue: ours ${oursJobs}, raw ${rawJobs}, hand-written ${handJobs} jobs in Redis, expected ${total} each`);
    }
    // Rows stay pending after their push until the job runs (or a relay round sees it in Redis).
    if (db.jobTable) await expectRows(db, total, 'pending');
    const measure = (name: string): Measure => {
      const side = sides.find((s) => s.name === name)!;
      return { rate: (n * 1000) / side.ms, cpuPerJob: side.cpu / n };
    };
    return { ours: measure('ours'), raw: measure('raw'), hand: measure('hand') };
  } finally {
    await closeDeferred();
    await oursQueue.close();
    await queue.close();
    await client.quit().catch(() => client.disconnect());
    await handQueue.close();
    await handClient.quit().catch(() => handClient.disconnect());
    if (db.jobTable) await clearRows(db);
    await ctx.dropPrefix(oursPrefix);
    await ctx.dropPrefix(rawPrefix);
    await ctx.dropPrefix(handPrefix);
  }
}

/** The job data each side stores, read back from Redis: ours and raw the same size, the hand-written one only the id. */
export async function storedPayloads(ctx: BenchContext, db: BenchDb): Promise<{ ours: string; raw: string; hand: string }> {
  const prefix = ctx.newPrefix('payload');
  configure({ connection: REDIS_URL, prefix, dataSources: { main: db.dataSource }, ...LIBRARY_OPTIONS });
  const queue = new Queue(QUEUE, { connection: ctx.control, prefix });
  try {
    const ours = await Deferred(db.record, db.dataSource, UID, 'noop');
    const raw = await queue.add(JOB_NAME, rawPayload(db.record), { jobId: randomUUID(), ...RAW_JOB_OPTIONS });
    const hand = await handAdd(queue, db);
    const [a, b, c] = await Promise.all([queue.getJob(ours.id), queue.getJob(raw.id!), queue.getJob(hand.id!)]);
    return { ours: JSON.stringify(a?.data), raw: JSON.stringify(b?.data), hand: JSON.stringify(c?.data) };
  } finally {
    await queue.close();
    await closeDeferred();
    await ctx.dropPrefix(prefix);
  }
}
