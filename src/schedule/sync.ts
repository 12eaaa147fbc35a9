import { producerQueue } from '../queues.js';
import { buildSchedule } from './build-schedule.js';
import type { BuiltSchedule, ScheduleDeclaration } from './schedule-spec.js';
import { deleteSchedule, storedSchedules, withSchedulesLock, writeSchedule, type StoredSchedule } from './schedule-store.js';

/** What a sync changed, by schedule name. */
export interface ScheduleSync {
  added: string[];
  changed: string[];
  removed: string[];
  unchanged: string[];
}

/**
 * True when the stored schedule is the declared one: same fingerprint (timing, target, options),
 * and its job scheduler still there, or ended by its own limit or end date (writing it again would
 * start it over). Such a schedule is not written, so a worker restarting across a tick moves nothing.
 */
async function inStep(built: BuiltSchedule, stored: StoredSchedule | undefined): Promise<boolean> {
  if (!stored || stored.origin !== 'config' || stored.fingerprint !== built.fingerprint) return false;
  const { limit, endDate } = built.repeat;
  return limit !== undefined || endDate !== undefined || (await producerQueue(stored.queue).getJobScheduler(built.name)) !== undefined;
}

/**
 * Makes the stored schedules match the ones declared in `configure({ schedules })`: added, changed,
 * and those declared before but not now removed (schedules made by `schedule()` stay). Every
 * declaration is built first, so one that is wrong fails the sync before anything is written; the
 * writes happen under the schedules' lock, so workers that start together take turns.
 */
export async function syncSchedules(declared: Readonly<Record<string, ScheduleDeclaration>>): Promise<ScheduleSync> {
  const built = await Promise.all(Object.entries(declared).map(([name, d]) => buildSchedule(name, d.when, d.target, d.options)));
  return withSchedulesLock(async (redis) => {
    const stored = await storedSchedules(redis);
    const result: ScheduleSync = { added: [], changed: [], removed: [], unchanged: [] };
    for (const b of built) {
      const before = stored.get(b.name);
      if (await inStep(b, before)) {
        result.unchanged.push(b.name);
        continue;
      }
      await writeSchedule(redis, b, 'config');
      (before ? result.changed : result.added).push(b.name);
    }
    for (const [name, s] of stored) {
      if (s.origin !== 'config' || name in declared) continue;
      await deleteSchedule(redis, name);
      result.removed.push(name);
    }
    return result;
  });
}
