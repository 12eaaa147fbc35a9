// What a schedule is made of (when, what, options) and the checks that need nothing but the
// values: configure() runs them, so this file imports no more than options and errors.
import { getNextMillis, type RepeatOptions } from 'bullmq';
import type { CallPayload, Uid } from '../call/call.js';
import type { TaskDefinition } from '../call/task.js';
import type { DbArgument, DeferredArgs, DeferrableMethodNames, DeferredModel } from '../enqueue/deferred-signature.js';
import { DeferralError } from '../errors.js';
import { show, validateOptions, type DeferredOptions, type QueueName } from '../options.js';

/** When a schedule fires: a cron pattern (5 fields, or 6 with seconds first) in a time zone, or every `every` ms. */
export type ScheduleWhen = { cron: string; tz?: string; every?: never } | { every: number; cron?: never; tz?: never };

/** A deferred method call, as `Deferred(model, db, uid, method, ...args)` takes it. */
export interface ScheduledCall<T extends DeferredModel = DeferredModel, M extends string = string> {
  model: T;
  db: DbArgument;
  uid: Uid;
  method: M & DeferrableMethodNames<T>;
  args?: DeferredArgs<T, M>;
}

/** A named task, as `submitTask(task, payload, { uid, db })` takes it. */
export interface ScheduledTask<P = unknown> {
  task: string | TaskDefinition<P, unknown>;
  payload?: P;
  /** @defaultValue `'system'` */
  uid?: Uid;
  /** @defaultValue the first data source of `configure()` */
  db?: DbArgument;
}

/** What a schedule runs on each tick. */
export type ScheduleTarget = ScheduledCall | ScheduledTask;

/** How long a schedule lasts, and the options of the jobs it makes (those of `Deferred`, without a delay or an id). */
export interface ScheduleOptions extends Omit<DeferredOptions, 'countdown' | 'eta' | 'jobId' | 'allowNested'> {
  /** No tick before this moment. */
  startDate?: Date | string | number;
  /**
   * The schedule ends at this moment: no job is made after it. BullMQ makes each job when the one
   * before it starts, so the last job may be due up to one period after this moment.
   */
  endDate?: Date | string | number;
  /** At most this many ticks; the schedule then ends. */
  limit?: number;
}

/** One entry of `defineConfig({ schedules })`. */
export interface ScheduleDeclaration {
  when: ScheduleWhen;
  target: ScheduleTarget;
  options?: ScheduleOptions;
}

/** A schedule ready for Redis: the BullMQ job scheduler's repeat options and job template. */
export interface BuiltSchedule {
  name: string;
  queue: QueueName;
  repeat: RepeatOptions;
  jobName: string;
  payload: CallPayload;
  jobOpts: { attempts?: number; backoff?: unknown; priority?: number; removeOnComplete?: unknown; removeOnFail?: unknown };
  /** Changes when anything above changes: an unchanged schedule is not written again. */
  fingerprint: string;
}

/** The shortest `every`: a schedule is for periodic work, not a busy loop. */
export const MIN_EVERY_MS = 100;

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$/;

export function invalid(what: string, value: unknown, why: string): DeferralError {
  return new DeferralError('DEFER_ERR_INVALID_OPTION', `Invalid schedule ${what}: ${why}`, { option: what, value });
}

/** A schedule's name makes its job ids (`repeat:<name>:<ms>`), so it is short and plain. */
export function checkScheduleName(name: unknown): asserts name is string {
  if (typeof name !== 'string' || !NAME.test(name)) throw invalid('name', name, `${show(name)} must be 1 to 100 letters, digits, '_', '.' or '-', starting with a letter or digit`);
}

/** The BullMQ repeat options for `when` (checked: the pattern parses, the time zone exists). */
export function checkWhen(name: string, when: unknown): Pick<RepeatOptions, 'pattern' | 'tz' | 'every'> {
  const w = (when ?? {}) as Record<string, unknown>;
  const keys = typeof when === 'object' && when !== null ? Object.keys(w).filter((k) => w[k] !== undefined) : [];
  if ('every' in w && w.every !== undefined) {
    if (keys.length !== 1) throw invalid(`${name}.when`, when, '{ every } takes no other field');
    if (!(Number.isSafeInteger(w.every) && (w.every as number) >= MIN_EVERY_MS)) throw invalid(`${name}.when.every`, w.every, `must be a whole number of milliseconds ≥ ${MIN_EVERY_MS}`);
    return { every: w.every as number };
  }
  if (typeof w.cron !== 'string' || keys.some((k) => k !== 'cron' && k !== 'tz')) {
    throw invalid(`${name}.when`, when, "must be { cron: '*/5 * * * *', tz?: 'Europe/Paris' } or { every: ms }");
  }
  const fields = w.cron.trim().split(/\s+/).length;
  if (fields !== 5 && fields !== 6) throw invalid(`${name}.when.cron`, w.cron, `has ${fields} fields: give 5 (minute hour day month weekday) or 6 (seconds first)`);
  if (w.tz !== undefined && (typeof w.tz !== 'string' || !validTimeZone(w.tz))) throw invalid(`${name}.when.tz`, w.tz, 'must be an IANA time zone such as "Europe/Paris"');
  const repeat = { pattern: w.cron, ...(w.tz ? { tz: w.tz as string } : {}) };
  try {
    if (!getNextMillis(Date.now(), repeat)) throw new Error('it never fires');
  } catch (err) {
    throw invalid(`${name}.when.cron`, w.cron, err instanceof Error ? err.message : String(err));
  }
  return repeat;
}

function validTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

function moment(name: string, option: string, value: unknown): number | undefined {
  if (value === undefined) return undefined;
  const ms = value instanceof Date ? value.getTime() : typeof value === 'string' ? Date.parse(value) : typeof value === 'number' ? value : NaN;
  if (!Number.isFinite(ms)) throw invalid(`${name}.options.${option}`, value, 'must be a valid Date, an ISO date string or epoch milliseconds');
  return ms;
}

/** Splits the options into the schedule's bounds and the jobs' options (checked as `DeferredType()` checks them). */
export function checkScheduleOptions(name: string, options: unknown): { bounds: Pick<RepeatOptions, 'startDate' | 'endDate' | 'limit'>; jobOptions: Readonly<DeferredOptions> } {
  if (options === undefined) return { bounds: {}, jobOptions: {} };
  if (typeof options !== 'object' || options === null) throw invalid(`${name}.options`, options, 'must be an object');
  const { startDate, endDate, limit, ...rest } = options as ScheduleOptions & Record<string, unknown>;
  for (const key of ['countdown', 'eta', 'jobId', 'allowNested']) {
    if (rest[key] !== undefined) throw invalid(`${name}.options.${key}`, rest[key], 'has no meaning for a schedule: its ticks say when, and make the job ids');
  }
  const start = moment(name, 'startDate', startDate);
  const end = moment(name, 'endDate', endDate);
  if (start !== undefined && end !== undefined && end <= start) throw invalid(`${name}.options.endDate`, endDate, 'must be after startDate');
  if (limit !== undefined && !(Number.isSafeInteger(limit) && limit >= 1)) throw invalid(`${name}.options.limit`, limit, 'must be a whole number ≥ 1');
  return {
    bounds: { ...(start !== undefined ? { startDate: start } : {}), ...(end !== undefined ? { endDate: end } : {}), ...(limit !== undefined ? { limit } : {}) },
    jobOptions: validateOptions(rest),
  };
}

