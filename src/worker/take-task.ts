import { randomUUID } from 'node:crypto';
import type { Job } from 'bullmq';
import { decodeArgs, encodeResult, parsePayload } from '../call/call.js';
import { READABLE_JOB } from '../call/readable-job.js';
import { getConfig } from '../config.js';
import { DeferralError } from '../errors.js';
import { QUEUE_NAMES, show, type QueueName } from '../options.js';
import { closeRedis, openRedis, producerQueue, ReadableWorker } from '../queues.js';
import { sleep } from '../time.js';

/** A job taken by hand with {@link takeTask}: do the work, then complete or fail it. */
export interface TakenTask<P = unknown> {
  readonly id: string;
  /** The task name (or `Model.method` for a deferred call). */
  readonly name: string;
  /** The task's payload (for a deferred call, its arguments); records in it are `EntityRef`s. */
  readonly payload: P;
  /** The job's user. */
  readonly uid: string | number;
  /** Marks the job completed with `result` (what `job.result()` resolves). */
  complete(result?: unknown): Promise<void>;
  /** Fails this attempt; the job is retried if it has attempts left, as when a worker fails it. */
  fail(error: Error | string): Promise<void>;
  /** Keeps the job for `ms` more (default: the lock duration); past it, the job goes back to its queue. */
  extendLock(ms?: number): Promise<void>;
}

/** Options of {@link takeTask}. */
export interface TakeTaskOptions {
  /** How long to wait for a job. @defaultValue `0` (only a job that is already waiting) */
  timeoutMs?: number;
  /** How long the job is yours before it goes back to the queue, unless `extendLock`. @defaultValue `30000` */
  lockMs?: number;
}

function invalid(option: string, value: unknown, why: string): DeferralError {
  return new DeferralError('DEFER_ERR_INVALID_OPTION', `Invalid takeTask option ${option}: ${show(value)} ${why}`, { option, value });
}

/** The job as a {@link TakenTask}; throws DEFER_ERR_BAD_PAYLOAD for data that does not read. */
function taken(job: Job, token: string, lockMs: number): TakenTask {
  const payload = parsePayload(job.data);
  const args = decodeArgs(payload.args);
  return {
    id: job.id!,
    name: job.name,
    payload: payload.target.kind === 'task' ? args[0] : args,
    uid: payload.uid,
    complete: async (result) => { await job.moveToCompleted(encodeResult(result), token, false); },
    fail: async (error) => { await job.moveToFailed(typeof error === 'string' ? new Error(error) : error, token, false); },
    extendLock: async (ms = lockMs) => { await job.extendLock(token, ms); },
  };
}

/**
 * Takes the next job of `queue` for a consumer outside the worker (a script, another service), or
 * resolves undefined when none arrives within `timeoutMs`. A taken job that is neither completed nor
 * failed goes back to its queue when its lock expires (at least once), at a worker's next stalled check.
 *
 * @example
 * ```ts
 * const task = await takeTask('low', { timeoutMs: 5_000 })
 * if (task) await handle(task.payload).then((r) => task.complete(r), (e) => task.fail(e))
 * ```
 */
export async function takeTask(queue: QueueName, { timeoutMs = 0, lockMs = 30_000 }: TakeTaskOptions = {}): Promise<TakenTask | undefined> {
  if (!QUEUE_NAMES.includes(queue)) throw invalid('queue', queue, `is not one of ${QUEUE_NAMES.join(', ')}`);
  if (!(Number.isFinite(timeoutMs) && timeoutMs >= 0)) throw invalid('timeoutMs', timeoutMs, 'must be a number of ms ≥ 0');
  if (!(Number.isSafeInteger(lockMs) && lockMs >= 1_000)) throw invalid('lockMs', lockMs, 'must be a whole number of ms ≥ 1000');
  const config = getConfig();
  const redis = openRedis(config.connection, 'worker');
  const worker = new ReadableWorker(queue, undefined, { connection: redis.client, prefix: config.queuePrefixes[queue], autorun: false, lockDuration: lockMs });
  worker.on('error', () => undefined);
  const release = async () => {
    await worker.close().catch(() => undefined);
    await closeRedis(redis);
  };
  const deadline = Date.now() + timeoutMs;
  try {
    for (let wait = 25; ; wait = Math.min(wait * 2, 250)) {
      const token = randomUUID();
      const fetched = await worker.getNextJob(token, { block: false });
      // Held through the process's producer queue, so this worker and its connection close now.
      const job = fetched && (await READABLE_JOB.fromId(producerQueue(queue), fetched.id!));
      if (job) {
        try {
          return taken(job, token, lockMs);
        } catch (err) {
          // Unreadable data: failed for good, as a worker would, and the next job is taken instead.
          await job.moveToFailed(err instanceof Error ? err : new Error(String(err)), token, false).catch(() => undefined);
          continue;
        }
      }
      if (Date.now() + wait > deadline) break;
      await sleep(wait);
    }
  } finally {
    await release();
  }
  return undefined;
}
