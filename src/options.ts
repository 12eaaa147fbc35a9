import { DeferralError } from './errors.js';
import { jobIdProblem } from './limits.js';

/** The three queues every deferred call goes to. */
export const QUEUE_NAMES = ['high', 'default', 'low'] as const;
/** One of {@link QUEUE_NAMES}. */
export type QueueName = (typeof QUEUE_NAMES)[number];

/** How many finished jobs BullMQ keeps: `true` removes at once, a number keeps that many, or by age (seconds) and count. */
export type KeepJobs = boolean | number | { age: number; count?: number } | { count: number };

/** Retry delay: a fixed number of ms, or a BullMQ backoff strategy. */
export type Backoff = number | { type: 'fixed' | 'exponential'; delay: number; jitter?: number };

/**
 * Options of a deferred call, given to {@link DeferredType} or as `configure({ defaults })`.
 *
 * @example
 * ```ts
 * const InAMinute = DeferredType({ countdown: 60, attempts: 3, backoff: { type: 'exponential', delay: 1000 } })
 * ```
 */
export interface DeferredOptions {
  /** @defaultValue `'default'` */
  queue?: QueueName;
  /** Seconds from now before the job may run (≥ 0). Not together with `eta`. */
  countdown?: number;
  /** When the job may run: a Date, an ISO string or epoch ms; in the past means now. */
  eta?: Date | string | number;
  /** Inside a running job: `false` runs the call inline in that job's transaction, `true` enqueues a new job. @defaultValue `false` */
  allowNested?: boolean;
  /** BullMQ priority within the queue: 1 is the highest, 2 097 152 the lowest. @defaultValue none (FIFO) */
  priority?: number;
  /** Attempts in all, the first included. @defaultValue `1` */
  attempts?: number;
  /** Delay between attempts. @defaultValue none */
  backoff?: Backoff;
  /** A custom job id: a second call with the same id, while the first job is kept, is ignored. At most 128 characters, no ':', no control characters, not an integer. */
  jobId?: string;
  /** Milliseconds one attempt may run before it fails with DEFER_ERR_TIMEOUT. @defaultValue none */
  timeout?: number;
  /** Run the method inside `dataSource.transaction()`. @defaultValue `true` */
  transaction?: boolean;
  /** Skip records deleted since the call instead of failing with DEFER_ERR_RECORD_NOT_FOUND. @defaultValue `false` */
  skipMissing?: boolean;
  /** Retention of completed jobs (and so of their results). @defaultValue `{ age: 86400, count: 10000 }` */
  removeOnComplete?: KeepJobs;
  /** Retention of failed jobs. @defaultValue `{ age: 604800 }` */
  removeOnFail?: KeepJobs;
}

/** The retention used when neither the call nor `configure({ defaults })` says. */
export const DEFAULT_RETENTION = {
  removeOnComplete: { age: 86_400, count: 10_000 },
  removeOnFail: { age: 604_800 },
} as const;

const OPTION_NAMES: ReadonlySet<string> = new Set([
  'queue', 'countdown', 'eta', 'allowNested', 'priority', 'attempts', 'backoff',
  'jobId', 'timeout', 'transaction', 'skipMissing', 'removeOnComplete', 'removeOnFail',
]);

function invalid(option: string, value: unknown, why: string): DeferralError {
  return new DeferralError('DEFER_ERR_INVALID_OPTION', `Invalid option ${option}: ${show(value)} ${why}`, { option, value });
}

/** A short, safe rendering of a value for error messages (long values are cut). */
export function show(value: unknown): string {
  const text = render(value);
  return text.length > 120 ? `${text.slice(0, 100)}… (${text.length} characters)` : text;
}

function render(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'bigint') return `${value}n`;
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? 'Invalid Date' : `Date(${value.toISOString()})`;
  if (typeof value === 'function') return `function ${value.name || '(anonymous)'}`;
  if (typeof value === 'object' && value !== null) {
    try { return JSON.stringify(value); } catch { return Object.prototype.toString.call(value); }
  }
  return String(value);
}

const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v);

function checkKeep(option: string, v: unknown): void {
  if (typeof v === 'boolean' || (isInt(v) && v >= 0)) return;
  if (typeof v === 'object' && v !== null && !Array.isArray(v) && Object.keys(v).length > 0) {
    for (const [k, n] of Object.entries(v)) {
      if ((k !== 'age' && k !== 'count') || !(isInt(n) && n >= 0)) throw invalid(option, v, 'must be a boolean, a count ≥ 0 or { age, count } with whole numbers ≥ 0');
    }
    return;
  }
  throw invalid(option, v, 'must be a boolean, a count ≥ 0 or { age, count } with whole numbers ≥ 0');
}

/** Parses an `eta` into epoch ms, or undefined when it cannot be read. */
function etaToMs(eta: unknown): number | undefined {
  const ms = eta instanceof Date ? eta.getTime() : typeof eta === 'string' ? Date.parse(eta) : typeof eta === 'number' ? eta : NaN;
  return Number.isFinite(ms) ? ms : undefined;
}

/**
 * Checks every option and throws DEFER_ERR_INVALID_OPTION naming the first bad
 * one and its value. Returns a frozen copy.
 */
export function validateOptions(options: unknown): Readonly<DeferredOptions> {
  if (options === undefined) return Object.freeze({});
  if (typeof options !== 'object' || options === null || Array.isArray(options)) throw invalid('options', options, 'must be an object');
  const o = options as Record<string, unknown>;
  for (const key of Object.keys(o)) {
    if (!OPTION_NAMES.has(key)) throw invalid(key, o[key], `is not a known option (known: ${[...OPTION_NAMES].join(', ')})`);
  }
  const has = (k: string) => o[k] !== undefined;
  if (has('queue') && !QUEUE_NAMES.includes(o.queue as QueueName)) throw invalid('queue', o.queue, `must be one of ${QUEUE_NAMES.join(', ')}`);
  if (has('countdown') && has('eta')) throw invalid('countdown', o.countdown, 'cannot be used together with eta');
  if (has('countdown') && !(typeof o.countdown === 'number' && Number.isFinite(o.countdown) && o.countdown >= 0)) {
    throw invalid('countdown', o.countdown, 'must be a finite number of seconds ≥ 0');
  }
  if (has('eta')) {
    if (!(o.eta instanceof Date || typeof o.eta === 'string' || typeof o.eta === 'number') || etaToMs(o.eta) === undefined) {
      throw invalid('eta', o.eta, 'must be a valid Date, an ISO date string or epoch milliseconds');
    }
  }
  for (const k of ['allowNested', 'transaction', 'skipMissing']) {
    if (has(k) && typeof o[k] !== 'boolean') throw invalid(k, o[k], 'must be a boolean');
  }
  if (has('priority') && !(isInt(o.priority) && o.priority >= 1 && o.priority <= 2_097_152)) {
    throw invalid('priority', o.priority, 'must be a whole number from 1 (highest) to 2097152');
  }
  if (has('attempts') && !(isInt(o.attempts) && o.attempts >= 1)) throw invalid('attempts', o.attempts, 'must be a whole number ≥ 1');
  if (has('backoff')) {
    const b = o.backoff as Record<string, unknown>;
    const okNumber = typeof b === 'number' && Number.isFinite(b) && b >= 0;
    const okObject = typeof b === 'object' && b !== null && (b.type === 'fixed' || b.type === 'exponential')
      && typeof b.delay === 'number' && Number.isFinite(b.delay) && b.delay >= 0
      && (b.jitter === undefined || (typeof b.jitter === 'number' && b.jitter >= 0 && b.jitter <= 1));
    if (!okNumber && !okObject) throw invalid('backoff', o.backoff, "must be ms ≥ 0 or { type: 'fixed' | 'exponential', delay: ms ≥ 0, jitter?: 0..1 }");
  }
  if (has('jobId')) {
    const problem = jobIdProblem(o.jobId);
    if (problem) throw invalid('jobId', o.jobId, problem);
  }
  if (has('timeout') && !(typeof o.timeout === 'number' && Number.isFinite(o.timeout) && o.timeout > 0)) {
    throw invalid('timeout', o.timeout, 'must be a finite number of milliseconds > 0');
  }
  if (has('removeOnComplete')) checkKeep('removeOnComplete', o.removeOnComplete);
  if (has('removeOnFail')) checkKeep('removeOnFail', o.removeOnFail);
  return Object.freeze({ ...(o as DeferredOptions) });
}

/** Merges option layers, later ones winning; countdown and eta replace each other. */
export function mergeOptions(...layers: Array<Readonly<DeferredOptions> | undefined>): DeferredOptions {
  const out: DeferredOptions = {};
  for (const layer of layers) {
    if (!layer) continue;
    if (layer.countdown !== undefined) delete out.eta;
    if (layer.eta !== undefined) delete out.countdown;
    for (const [k, v] of Object.entries(layer)) if (v !== undefined) (out as Record<string, unknown>)[k] = v;
  }
  return out;
}

/** The delay in ms that `countdown` or `eta` asks for, measured from `now`. */
export function delayOf(options: DeferredOptions, now = Date.now()): number {
  if (options.countdown !== undefined) return Math.round(options.countdown * 1000);
  if (options.eta !== undefined) return Math.max(0, (etaToMs(options.eta) ?? now) - now);
  return 0;
}

/**
 * One queue's concurrency in a worker: a number, or an object whose `global` caps how many jobs of
 * the queue run at once across every worker process (BullMQ's global concurrency, kept in Redis).
 */
export type QueueSetting = number | {
  /** Jobs of this queue this process runs at once; 0 leaves the queue to other processes. @defaultValue `1` */
  concurrency?: number;
  /**
   * Jobs of this queue running at once across the whole deployment (`1`: one at a time, in order).
   * Stored on the queue in Redis when the worker starts; a worker started without `global` leaves it
   * as it is, `false` removes it. @defaultValue leave the queue's setting unchanged
   */
  global?: number | false;
};

/** Worker concurrency per queue; 0 means the process does not consume that queue. */
export type QueueConcurrency = Partial<Record<QueueName, QueueSetting>>;

/** The `{ concurrency, global }` form of one queue's setting, checked. */
function checkQueueObject(name: string, setting: object): number {
  const { concurrency = 1, global, ...rest } = setting as { concurrency?: unknown; global?: unknown };
  const extra = Object.keys(rest)[0];
  if (extra !== undefined) throw invalid(`queues.${name}.${extra}`, (rest as Record<string, unknown>)[extra], 'is not a queue setting (known: concurrency, global)');
  if (!(isInt(concurrency) && concurrency >= 0)) throw invalid(`queues.${name}.concurrency`, concurrency, 'must be a whole number ≥ 0');
  if (global !== undefined && global !== false && !(isInt(global) && global >= 1)) {
    throw invalid(`queues.${name}.global`, global, 'must be a whole number ≥ 1, or false to remove the queue\'s global concurrency');
  }
  return concurrency;
}

/** Checks `startWorker({ queues })`: whole numbers ≥ 0 (or `{ concurrency, global }`), known queue names, at least one queue consumed. */
export function validateConcurrency(queues: unknown): Required<Record<QueueName, number>> {
  const out: Required<Record<QueueName, number>> = { high: 1, default: 1, low: 1 };
  if (queues === undefined) return out;
  if (typeof queues !== 'object' || queues === null || Array.isArray(queues)) throw invalid('queues', queues, 'must be an object like { high: 1, default: 1, low: 1 }');
  for (const [name, n] of Object.entries(queues)) {
    if (!QUEUE_NAMES.includes(name as QueueName)) throw invalid(`queues.${name}`, n, `is not a queue (queues: ${QUEUE_NAMES.join(', ')})`);
    if (n === undefined) continue;
    if (typeof n === 'object' && n !== null && !Array.isArray(n)) out[name as QueueName] = checkQueueObject(name, n);
    else if (isInt(n) && n >= 0) out[name as QueueName] = n;
    else throw invalid(`queues.${name}`, n, 'must be a whole number ≥ 0, or { concurrency, global }');
  }
  if (QUEUE_NAMES.every((q) => out[q] === 0)) throw invalid('queues', queues, 'consume no queue: give at least one a concurrency ≥ 1');
  return out;
}

/** The `global` caps a checked `queues` option sets (a number) or removes (`false`); queues it does not name are absent. */
export function globalConcurrency(queues: QueueConcurrency | undefined): Partial<Record<QueueName, number | false>> {
  const out: Partial<Record<QueueName, number | false>> = {};
  for (const q of QUEUE_NAMES) {
    const setting = queues?.[q];
    if (typeof setting === 'object' && setting !== null && setting.global !== undefined) out[q] = setting.global;
  }
  return out;
}
