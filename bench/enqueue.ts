import { randomUUID } from 'node:crypto';
import { Queue } from 'bullmq';
import { closeDeferred, configure, Deferred } from '../src/index.js';
import type { BenchContext } from './context.js';
import { JOB_NAME, QUEUE, RAW_JOB_OPTIONS, rawPayload, UID } from './payload.js';
import { openRedis, REDIS_URL, type BenchDb } from './services.js';
import { clocked, timeCalls, type Measure } from './stats.js';

/** Untimed calls before each timed run: they open the connections and load the scripts. */
const WARMUP_CALLS = 50;

/** Calls are timed in blocks of this many, ours and raw taking turns, so both meet the same machine load. */
const BLOCK = 250;

/**
 * Jobs/s of `Deferred(record, db, uid, 'noop')` and of `queue.add(name, payload,
 * { jobId: randomUUID(), ...RAW_JOB_OPTIONS })` on a raw BullMQ Queue, `inFlight`
 * calls at a time, each on a fresh prefix. Both producers are open for the whole pair; the n calls
 * of each side run in blocks that alternate between the sides.
 */
export async function enqueuePair(ctx: BenchContext, db: BenchDb, n: number, inFlight: number, oursFirst: boolean): Promise<{ ours: Measure; raw: Measure }> {
  const oursPrefix = ctx.newPrefix('ours-enq');
  const rawPrefix = ctx.newPrefix('raw-enq');
  configure({ connection: REDIS_URL, prefix: oursPrefix, dataSources: { main: db.dataSource } });
  const client = openRedis();
  const queue = new Queue(QUEUE, { connection: client, prefix: rawPrefix });
  queue.on('error', () => undefined);
  try {
    const sides = [
      { name: 'ours', ms: 0, cpu: 0, call: () => Deferred(db.record, db.dataSource, UID, 'noop') },
      { name: 'raw', ms: 0, cpu: 0, call: () => queue.add(JOB_NAME, rawPayload(db.record), { jobId: randomUUID(), ...RAW_JOB_OPTIONS }) },
    ];
    if (!oursFirst) sides.reverse();
    for (const side of sides) await timeCalls(WARMUP_CALLS, inFlight, side.call);
    for (let done = 0; done < n; done += BLOCK) {
      for (const side of sides) {
        const { ms, cpuMicros } = await clocked(() => timeCalls(Math.min(BLOCK, n - done), inFlight, side.call));
        side.ms += ms;
        side.cpu += cpuMicros;
      }
    }
    const measure = (name: string): Measure => {
      const side = sides.find((s) => s.name === name)!;
      return { rate: (n * 1000) / side.ms, cpuPerJob: side.cpu / n };
    };
    return { ours: measure('ours'), raw: measure('raw') };
  } finally {
    await closeDeferred();
    await queue.close();
    await client.quit().catch(() => client.disconnect());
    await ctx.dropPrefix(oursPrefix);
    await ctx.dropPrefix(rawPrefix);
  }
}

/** The job data both sides store, read back from Redis, to show they are the same size. */
export async function storedPayloads(ctx: BenchContext, db: BenchDb): Promise<{ ours: string; raw: string }> {
  const prefix = ctx.newPrefix('payload');
  configure({ connection: REDIS_URL, prefix, dataSources: { main: db.dataSource } });
  const queue = new Queue(QUEUE, { connection: ctx.control, prefix });
  try {
    const ours = await Deferred(db.record, db.dataSource, UID, 'noop');
    const raw = await queue.add(JOB_NAME, rawPayload(db.record), { jobId: randomUUID(), ...RAW_JOB_OPTIONS });
    const [a, b] = await Promise.all([queue.getJob(ours.id), queue.getJob(raw.id!)]);
    return { ours: JSON.stringify(a?.data), raw: JSON.stringify(b?.data) };
  } finally {
    await queue.close();
    await closeDeferred();
    await ctx.dropPrefix(prefix);
  }
}
