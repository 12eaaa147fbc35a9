import type { JobSchedulerJson } from 'bullmq';
import { targetName, type CallPayload, type IdMap, type Uid } from '../call/call.js';
import { getConfig } from '../config.js';
import type { DeferredModel } from '../enqueue/deferred-signature.js';
import { QUEUE_NAMES, type QueueName } from '../options.js';
import { producerQueue, producerRedis, readyProducerQueue } from '../queues.js';
import { buildSchedule } from './build-schedule.js';
import { checkScheduleName, type ScheduledCall, type ScheduledTask, type ScheduleOptions, type ScheduleWhen } from './schedule-spec.js';
import { deleteSchedule, lastRunsKey, storedSchedules, withSchedulesLock, writeSchedule, type ScheduleOrigin, type StoredSchedule } from './schedule-store.js';
import type { LastRun } from './last-run.js';

/** A schedule as `listSchedules()` shows it. */
export interface ScheduleInfo {
  name: string;
  queue: QueueName;
  when: ScheduleWhen;
  /** What each tick runs: a task, or a model's method (on records, by primary key). */
  target: { task: string; uid: Uid } | { model: string; method: string; ids?: IdMap[]; uid: Uid };
  startDate?: Date;
  endDate?: Date;
  limit?: number;
  /** `'config'`: declared in `configure({ schedules })`, kept in step by workers; `'api'`: made by `schedule()`. */
  origin: ScheduleOrigin;
  /** When the next job is due; undefined once the schedule has ended (its `limit` or `endDate` reached). */
  next?: Date;
  /** How many jobs the schedule has made, while it runs. */
  iterations?: number;
  /** The last job that ran, when it ended, and how. */
  last?: LastRun;
}

/**
 * Runs a deferred call or a task on a schedule: a cron pattern (`{ cron: '0 3 * * *', tz }`, 6 fields
 * for seconds) or a period (`{ every: 60_000 }`). One job per tick, however many workers run. The
 * same name again replaces the schedule (its next tick is kept when the timing is unchanged).
 *
 * @example
 * ```ts
 * await schedule('nightly-report', { cron: '0 3 * * *', tz: 'Europe/Paris' }, { model: Report, db: 'main', uid: 'system', method: 'rebuild' })
 * await schedule('heartbeat', { every: 5_000 }, { task: 'heartbeat', payload: {} })
 * ```
 */
export async function schedule<T extends DeferredModel, M extends string>(name: string, when: ScheduleWhen, target: ScheduledCall<T, M>, options?: ScheduleOptions): Promise<void>;
export async function schedule<P>(name: string, when: ScheduleWhen, target: ScheduledTask<P>, options?: ScheduleOptions): Promise<void>;
export async function schedule(name: string, when: ScheduleWhen, target: ScheduledCall | ScheduledTask, options?: ScheduleOptions): Promise<void> {
  const built = await buildSchedule(name, when, target, options);
  await withSchedulesLock((redis) => writeSchedule(redis, built, 'api'));
}

/**
 * Removes a schedule and its next job, unless a worker already runs that one; the jobs that ran
 * stay, with their results. Resolves whether there was a schedule of that name.
 *
 * @example
 * ```ts
 * await unschedule('nightly-report')
 * ```
 */
export async function unschedule(name: string): Promise<boolean> {
  checkScheduleName(name);
  return withSchedulesLock((redis) => deleteSchedule(redis, name));
}

function whenOf(repeat: { pattern?: string; tz?: string; every?: number }): ScheduleWhen {
  return repeat.every !== undefined ? { every: repeat.every } : { cron: repeat.pattern ?? '', ...(repeat.tz ? { tz: repeat.tz } : {}) };
}

function targetOf(payload: CallPayload): ScheduleInfo['target'] {
  const t = payload.target;
  if (t.kind === 'task') return { task: t.name, uid: payload.uid };
  return { model: targetName(t), method: payload.method, ...(t.kind === 'records' ? { ids: t.ids } : {}), uid: payload.uid };
}

const dateOf = (ms: number | undefined) => (ms === undefined ? undefined : new Date(ms));

function scheduleInfo(name: string, stored: StoredSchedule | undefined, live: { queue: QueueName; json: JobSchedulerJson<CallPayload> } | undefined, last: LastRun | undefined): ScheduleInfo | undefined {
  const repeat = stored?.built.repeat ?? live?.json ?? {};
  const payload = stored?.built.payload ?? live?.json.template?.data;
  if (!payload?.target) return undefined;
  const { startDate, endDate, limit } = repeat as { startDate?: number; endDate?: number; limit?: number };
  return {
    name, queue: live?.queue ?? stored!.queue, when: whenOf(repeat), target: targetOf(payload),
    ...(startDate !== undefined ? { startDate: new Date(startDate) } : {}),
    ...(endDate !== undefined ? { endDate: new Date(endDate) } : {}),
    ...(limit !== undefined ? { limit } : {}),
    origin: stored?.origin ?? 'api',
    next: dateOf(live?.json.next),
    ...(live?.json.iterationCount !== undefined ? { iterations: live.json.iterationCount } : {}),
    ...(last ? { last } : {}),
  };
}

/**
 * The schedules, by name: when each fires, what it runs, its next and last job.
 *
 * @example
 * ```ts
 * for (const s of await listSchedules()) console.log(s.name, s.next, s.last?.state)
 * ```
 */
export async function listSchedules(): Promise<ScheduleInfo[]> {
  const queues = await Promise.all(QUEUE_NAMES.map(readyProducerQueue));
  const [stored, lastRuns, ...live] = await Promise.all([
    storedSchedules(producerRedis()),
    producerRedis().hgetall(lastRunsKey(getConfig().prefix)),
    ...queues.map((q) => q.getJobSchedulers(0, -1, true) as Promise<JobSchedulerJson<CallPayload>[]>),
  ]);
  const byName = new Map<string, { queue: QueueName; json: JobSchedulerJson<CallPayload> }>();
  live.forEach((list, i) => list.forEach((json) => byName.set(json.key, { queue: QUEUE_NAMES[i], json })));
  await Promise.all([...byName.values()].map(forgetEndedNext));
  const names = [...new Set([...stored.keys(), ...byName.keys()])].sort();
  return names.flatMap((name) => scheduleInfo(name, stored.get(name), byName.get(name), parseLast(lastRuns[name])) ?? []);
}

const TO_RUN = new Set(['delayed', 'waiting', 'prioritized', 'waiting-children']);

/**
 * BullMQ keeps an ended schedule (its `limit` or `endDate` reached) with its last tick as `next`:
 * when the job of that tick has already been taken, no tick follows, and `next` is dropped.
 */
async function forgetEndedNext(live: { queue: QueueName; json: JobSchedulerJson<CallPayload> }): Promise<void> {
  const { json } = live;
  if (json.next === undefined || (json.limit === undefined && json.endDate === undefined)) return;
  const state = await producerQueue(live.queue).getJobState(`repeat:${json.key}:${json.next}`);
  if (!TO_RUN.has(state)) delete json.next;
}

function parseLast(json: string | undefined): LastRun | undefined {
  if (!json) return undefined;
  try {
    const { jobId, at, state } = JSON.parse(json) as { jobId: string; at: number; state: LastRun['state'] };
    return { jobId, at: new Date(at), state };
  } catch {
    return undefined;
  }
}
