// A schedule built for Redis: its target made into a payload, as Deferred() or submitTask() would.
import { createHash } from 'node:crypto';
import type { CallPayload } from '../call/call.js';
import { jobName } from '../call/invoke.js';
import { buildCall } from '../enqueue/deferred.js';
import { buildTaskCall } from '../enqueue/submit-task.js';
import { show, type DeferredOptions } from '../options.js';
import { checkScheduleName, checkScheduleOptions, checkWhen, invalid, type BuiltSchedule, type ScheduledTask, type ScheduleOptions, type ScheduleTarget, type ScheduleWhen } from './schedule-spec.js';

const isTask = (target: ScheduleTarget): target is ScheduledTask => typeof target === 'object' && target !== null && 'task' in target;

/** The payload and options of a target, built as `Deferred()` or `submitTask()` would build them. */
async function buildTarget(name: string, target: ScheduleTarget, jobOptions: Readonly<DeferredOptions>): Promise<{ payload: CallPayload; options: DeferredOptions }> {
  if (typeof target !== 'object' || target === null) throw invalid(`${name}.target`, target, 'must be { model, db, uid, method, args? } or { task, payload?, uid?, db? }');
  if (isTask(target)) {
    const built = await buildTaskCall(target.task, target.payload, { ...jobOptions, ...(target.uid !== undefined ? { uid: target.uid } : {}), ...(target.db !== undefined ? { db: target.db } : {}) }, `schedule(${show(name)})`);
    return { payload: built.payload, options: built.options };
  }
  const { model, db, uid, method, args = [] } = target;
  if (!Array.isArray(args)) throw invalid(`${name}.target.args`, args, 'must be an array of arguments');
  const { payload, options } = buildCall(model, db, uid, method, args, jobOptions);
  return { payload, options };
}

/** Checks a schedule and builds what Redis keeps of it; nothing is written. */
export async function buildSchedule(name: string, when: ScheduleWhen, target: ScheduleTarget, options?: ScheduleOptions): Promise<BuiltSchedule> {
  checkScheduleName(name);
  const repeat = checkWhen(name, when);
  const { bounds, jobOptions } = checkScheduleOptions(name, options);
  const { payload, options: merged } = await buildTarget(name, target, jobOptions);
  const queue = merged.queue ?? 'default';
  const jobOpts = {
    attempts: merged.attempts ?? 1, priority: merged.priority, backoff: merged.backoff,
    removeOnComplete: merged.removeOnComplete, removeOnFail: merged.removeOnFail,
  };
  const built = { name, queue, repeat: { ...repeat, ...bounds }, jobName: jobName(payload), payload, jobOpts };
  const fingerprint = createHash('sha256').update(JSON.stringify(built)).digest('base64url').slice(0, 22);
  return { ...built, fingerprint };
}
