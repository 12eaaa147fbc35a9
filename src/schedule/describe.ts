// Schedules as people read them, the same in the CLI and on the dashboard.
import type { ScheduleInfo } from './schedule.js';

/** `every 5s`, `every 90s`, `every 1500ms`: the largest unit that divides the period exactly. */
export function formatEvery(ms: number): string {
  for (const [unit, size] of [['d', 86_400_000], ['h', 3_600_000], ['m', 60_000], ['s', 1_000]] as const) {
    if (ms >= size && ms % size === 0) return `every ${ms / size}${unit}`;
  }
  return `every ${ms}ms`;
}

/** `0 3 * * * (Europe/Paris)` or `every 5s`. */
export function describeWhen(when: ScheduleInfo['when']): string {
  if (when.every !== undefined) return formatEvery(when.every);
  return when.tz ? `${when.cron} (${when.tz})` : when.cron;
}

const MAX_IDS = 5;

/** `task heartbeat`, `Report.rebuild`, `Account.deposit [id=1]`, `Line.close [order=1 n=2, order=1 n=3]`. */
export function describeTarget(target: ScheduleInfo['target']): string {
  if ('task' in target) return `task ${target.task}`;
  const call = `${target.model}.${target.method}`;
  if (!target.ids) return call;
  const ids = target.ids.slice(0, MAX_IDS).map((id) => Object.entries(id).map(([k, v]) => `${k}=${v}`).join(' '));
  const more = target.ids.length > MAX_IDS ? `, … ${target.ids.length - MAX_IDS} more` : '';
  return `${call} [${ids.join(', ')}${more}]`;
}
