// Where schedules live: BullMQ job schedulers (one per name, on the target's queue) and, beside
// them, a hash of what was declared (queue, origin, fingerprint, description) and of each last run.
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { getConfig } from '../config.js';
import { DeferralError } from '../errors.js';
import { QUEUE_NAMES, type QueueName } from '../options.js';
import { producerQueue, producerReady, producerRedis } from '../queues.js';
import type { BuiltSchedule } from './schedule-spec.js';

export const schedulesKey = (prefix: string) => `${prefix}:deferred-schedules`;
export const lastRunsKey = (prefix: string) => `${prefix}:deferred-schedules-last`;
const lockKey = (prefix: string) => `${prefix}:deferred-schedules-lock`;

/** Who made a schedule: `configure({ schedules })` (kept in step by workers) or a `schedule()` call. */
export type ScheduleOrigin = 'config' | 'api';

/** What the library keeps of a schedule beside BullMQ's job scheduler. */
export interface StoredSchedule {
  queue: QueueName;
  origin: ScheduleOrigin;
  fingerprint: string;
  built: Pick<BuiltSchedule, 'repeat' | 'payload'>;
}

/** How long one process may hold the schedules' lock; a process that dies holding it frees it then. */
const LOCK_MS = 15_000;
const LOCK_WAIT_MS = 30_000;
const RELEASE = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0";

/**
 * Runs `work` while this process alone changes schedules: two workers starting at once, or a
 * `schedule()` racing an `unschedule()`, take turns instead of interleaving their Redis writes.
 */
export async function withSchedulesLock<T>(work: (redis: Redis) => Promise<T>): Promise<T> {
  await producerReady();
  const redis = producerRedis();
  const key = lockKey(getConfig().prefix);
  const token = randomUUID();
  const giveUpAt = Date.now() + LOCK_WAIT_MS;
  while ((await redis.set(key, token, 'PX', LOCK_MS, 'NX')) !== 'OK') {
    if (Date.now() > giveUpAt) throw new DeferralError('DEFER_ERR_REDIS_UNAVAILABLE', `The schedules stayed locked by another process for ${LOCK_WAIT_MS} ms (key ${key})`, { key });
    await new Promise((resolve) => setTimeout(resolve, 20 + Math.random() * 30));
  }
  try {
    return await work(redis);
  } finally {
    await redis.eval(RELEASE, 1, key, token).catch(() => undefined);
  }
}

/** Every stored schedule's record, by name. */
export async function storedSchedules(redis: Redis): Promise<Map<string, StoredSchedule>> {
  const all = await redis.hgetall(schedulesKey(getConfig().prefix));
  const out = new Map<string, StoredSchedule>();
  for (const [name, json] of Object.entries(all)) {
    try {
      out.set(name, JSON.parse(json) as StoredSchedule);
    } catch {
      // Not ours (written by hand): listed from BullMQ alone, replaced on the next write.
    }
  }
  return out;
}

/**
 * Removes the job scheduler `name` from `queue`, and its next job. BullMQ removes that job only
 * while it is delayed: an `every` schedule's first job, or one already due, waits in the queue and
 * would run once more. A job that a worker has taken is left to finish.
 */
async function removeScheduler(queue: QueueName, name: string): Promise<boolean> {
  const q = producerQueue(queue);
  const scheduler = await q.getJobScheduler(name);
  const removed = await q.removeJobScheduler(name);
  if (scheduler?.next !== undefined) {
    const next = await q.getJob(`repeat:${name}:${scheduler.next}`);
    if (next && !next.finishedOn && !(await next.isActive())) await next.remove().catch(() => undefined);
  }
  return removed;
}

/** Writes a schedule (under the lock): its job scheduler on its queue, none on the others, and its record. */
export async function writeSchedule(redis: Redis, built: BuiltSchedule, origin: ScheduleOrigin): Promise<void> {
  const { name, queue, repeat, jobName, payload, jobOpts } = built;
  // On another queue before: its scheduler there goes, or the name would fire twice.
  await Promise.all(QUEUE_NAMES.filter((q) => q !== queue).map((q) => removeScheduler(q, name)));
  await producerQueue(queue).upsertJobScheduler(name, repeat, { name: jobName, data: payload, opts: jobOpts as never });
  const stored: StoredSchedule = { queue, origin, fingerprint: built.fingerprint, built: { repeat, payload } };
  await redis.hset(schedulesKey(getConfig().prefix), name, JSON.stringify(stored));
}

/** Removes a schedule (under the lock) from every queue; true when there was one. */
export async function deleteSchedule(redis: Redis, name: string): Promise<boolean> {
  const { prefix } = getConfig();
  const removed = await Promise.all(QUEUE_NAMES.map((q) => removeScheduler(q, name)));
  const [recorded] = await Promise.all([redis.hdel(schedulesKey(prefix), name), redis.hdel(lastRunsKey(prefix), name)]);
  return removed.some(Boolean) || recorded > 0;
}
