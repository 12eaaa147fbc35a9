import { hostname } from 'node:os';
import type { ConnectionSetting } from '../config.js';
import { DeferralError } from '../errors.js';
import { globalConcurrency, QUEUE_NAMES, show, validateConcurrency, type QueueConcurrency, type QueueName } from '../options.js';
import { consoleLogger, type Logger } from '../observe/logger.js';
import type { RelayOptions } from '../outbox/relay.js';

/** What a worker logs to: a pino-compatible {@link Logger}. */
export type WorkerLogger = Logger;

/** How jobs wait out a database outage (see {@link WorkerOptions.outage}). */
export interface OutageOptions {
  /** How many times one job is put back for an outage before the error counts as a failure. @defaultValue `30` */
  retries?: number;
  /** The first wait, doubled at each retry. @defaultValue `1000` */
  delayMs?: number;
  /** The longest wait between two retries. @defaultValue `30000` */
  maxDelayMs?: number;
}

/** A rate limit on one queue: at most `max` jobs start per `durationMs`, across every worker of the queue. */
export interface QueueRateLimit {
  /** Jobs that may start in one window (whole number ≥ 1). */
  max: number;
  /** The window, in ms (whole number ≥ 1). */
  durationMs: number;
}

/**
 * Options of `startWorker`.
 *
 * @example
 * ```ts
 * await startWorker({ queues: { high: 4, default: 2, low: 1 }, shutdownTimeoutMs: 10_000, maxStalls: 10 })
 * ```
 */
export interface WorkerOptions {
  /**
   * Concurrency per queue; 0 leaves a queue to other processes. `{ concurrency, global }` also caps
   * the queue across every worker process (`{ low: { concurrency: 1, global: 1 } }`: strict FIFO).
   * @defaultValue `{ high: 1, default: 1, low: 1 }`
   */
  queues?: QueueConcurrency;
  /**
   * Rate limits per queue, across every worker of the queue (BullMQ's global rate limit, kept in
   * Redis): `{ low: { max: 10, durationMs: 1000 } }`. A worker started without `limits` leaves a
   * queue's limit as it is; `{ low: false }` removes it. @defaultValue leave the queues' limits unchanged
   */
  limits?: Partial<Record<QueueName, QueueRateLimit | false>>;
  /**
   * This worker's name: on its Redis connections (bull-board's worker list, `Queue.getWorkers()`),
   * on each job it takes (BullMQ's `processedBy`) and as the `worker` field of its log records.
   * Letters, digits and `. _ - : @ /`, at most 100 characters. @defaultValue `` `${os.hostname()}:${process.pid}` ``
   */
  name?: string;
  /** Redis for this worker. @defaultValue the `configure()` connection */
  connection?: ConnectionSetting;
  /** How long `close()` lets active jobs finish before aborting them. @defaultValue `30000` */
  shutdownTimeoutMs?: number;
  /** Close on SIGTERM/SIGINT and exit 0 (the CLI does this). @defaultValue `false` */
  handleSignals?: boolean;
  /** Minimum ms between two progress writes of one job. @defaultValue `200` */
  progressIntervalMs?: number;
  /**
   * A pino-compatible logger (`pino()`, fastify's `app.log`): the worker logs its start and stop
   * (`info`), failed attempts (`warn` when retried, `error` when final, with `jobId`, `queue`,
   * `call`, `attempt`, `durationMs` and `err`), outages and its own errors.
   * @defaultValue warnings and errors to the console
   */
  logger?: Logger;
  /** Also log each completed job at `info`. @defaultValue `false` */
  verbose?: boolean;
  /**
   * The relay that pushes recorded jobs which never reached Redis (see DeferredJobRecord), and on
   * the same rounds finishes rows whose BullMQ job ended without a worker to record it;
   * `false` turns both off. @defaultValue `{ intervalMs: 5000, olderThanMs: 5000, leaseMs: 60000 }`
   */
  relay?: false | (Omit<RelayOptions, 'dataSource'> & { intervalMs?: number });
  /** Delete finished job rows older than this (ms), on the relay's rounds. @defaultValue keep them */
  recordRetentionMs?: number;
  /**
   * How many times a job may be taken back from a worker that died while running it (or lost its
   * lock) and run again; one more and it fails with DEFER_ERR_STALLED. With a job table, a job
   * whose work had committed is acknowledged instead. `Infinity` never gives up. @defaultValue `10`
   */
  maxStalls?: number;
  /** How long a job's lock lasts without renewal (renewed every half of it while the job runs). @defaultValue `30000` */
  lockDurationMs?: number;
  /** How often workers look for jobs whose worker died (their lock expired). @defaultValue `30000` */
  stalledIntervalMs?: number;
  /**
   * A job that meets a database outage (connection refused, reset or lost) is put back on its queue
   * with a growing delay, without spending one of its `attempts`; `false` treats such errors as
   * failures. @defaultValue `{ retries: 30, delayMs: 1000, maxDelayMs: 30000 }` (about 13 minutes in all)
   */
  outage?: false | OutageOptions;
}

/** Worker options after checks, with their defaults. */
export interface ResolvedWorkerOptions {
  concurrency: Record<QueueName, number>;
  /** Global concurrency to set (a number) or remove (false) per queue, at start. */
  global: Partial<Record<QueueName, number | false>>;
  /** Rate limits to set or remove per queue, at start. */
  limits: Partial<Record<QueueName, QueueRateLimit | false>>;
  name: string;
  connection?: ConnectionSetting;
  grace: number;
  handleSignals: boolean;
  progressIntervalMs: number;
  logger: Logger;
  verbose: boolean;
  relay: WorkerOptions['relay'];
  recordRetentionMs?: number;
  maxStalls: number;
  lockDurationMs: number;
  stalledIntervalMs: number;
  outage: Required<OutageOptions> | false;
}

function invalid(option: string, value: unknown, why: string): DeferralError {
  return new DeferralError('DEFER_ERR_INVALID_OPTION', `Invalid option ${option}: ${show(value)} ${why}`, { option, value });
}

const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** `limits`: per known queue, `{ max, durationMs }` with whole numbers ≥ 1, or false. */
function checkLimits(limits: unknown): ResolvedWorkerOptions['limits'] {
  if (limits === undefined) return {};
  if (!isPlainObject(limits)) throw invalid('limits', limits, 'must be an object like { low: { max: 10, durationMs: 1000 } }');
  const out: ResolvedWorkerOptions['limits'] = {};
  for (const [queue, limit] of Object.entries(limits)) {
    if (!QUEUE_NAMES.includes(queue as QueueName)) throw invalid(`limits.${queue}`, limit, `is not a queue (queues: ${QUEUE_NAMES.join(', ')})`);
    if (limit === undefined) continue;
    if (limit === false) {
      out[queue as QueueName] = false;
      continue;
    }
    if (!isPlainObject(limit)) throw invalid(`limits.${queue}`, limit, 'must be { max, durationMs } or false');
    const extra = Object.keys(limit).find((k) => k !== 'max' && k !== 'durationMs');
    if (extra) throw invalid(`limits.${queue}.${extra}`, limit[extra], 'is not a rate limit setting (known: max, durationMs)');
    out[queue as QueueName] = {
      max: count(`limits.${queue}.max`, limit.max as number, 1),
      durationMs: count(`limits.${queue}.durationMs`, limit.durationMs as number, 1),
    };
  }
  return out;
}

// Redis client names (CLIENT SETNAME) take no spaces; the name is also a log field.
const WORKER_NAME = /^[A-Za-z0-9._\-:@/]{1,100}$/;

/** The worker's name, or the default `host:pid`. */
function checkName(name: unknown): string {
  if (name === undefined) return `${hostname()}:${process.pid}`.replace(/[^A-Za-z0-9._\-:@/]/g, '_').slice(0, 100);
  if (typeof name !== 'string' || !WORKER_NAME.test(name)) throw invalid('name', name, 'must be 1 to 100 letters, digits or . _ - : @ /');
  return name;
}

/** A whole number ≥ `min` (or Infinity when `infinite`), else DEFER_ERR_INVALID_OPTION. */
function count(option: string, value: number, min: number, infinite = false): number {
  if ((infinite && value === Infinity) || (Number.isSafeInteger(value) && value >= min)) return value;
  throw invalid(option, value, `must be a whole number ≥ ${min}${infinite ? ' (or Infinity)' : ''}`);
}

/** A logger with pino's methods, or DEFER_ERR_INVALID_OPTION. */
function checkLogger(logger: Logger | undefined): Logger {
  if (logger === undefined) return consoleLogger;
  const missing = (['info', 'warn', 'error'] as const).filter((level) => typeof (logger as unknown as Record<string, unknown>)?.[level] !== 'function');
  if (missing.length) throw invalid('logger', logger, `must be pino-compatible: it has no ${missing.join(', ')} method`);
  return logger;
}

/** Checks `startWorker()` options and fills in the defaults; throws DEFER_ERR_INVALID_OPTION naming the first bad one. */
export function resolveWorkerOptions(options: WorkerOptions = {}): ResolvedWorkerOptions {
  const grace = options.shutdownTimeoutMs ?? 30_000;
  if (!(Number.isFinite(grace) && grace >= 0)) throw invalid('shutdownTimeoutMs', grace, 'must be a number of ms ≥ 0');
  const lockDurationMs = count('lockDurationMs', options.lockDurationMs ?? 30_000, 1_000);
  const outage = options.outage === false ? false : {
    retries: count('outage.retries', options.outage?.retries ?? 30, 0),
    delayMs: count('outage.delayMs', options.outage?.delayMs ?? 1_000, 1),
    maxDelayMs: count('outage.maxDelayMs', options.outage?.maxDelayMs ?? 30_000, 1),
  };
  return {
    concurrency: validateConcurrency(options.queues),
    global: globalConcurrency(options.queues),
    limits: checkLimits(options.limits),
    name: checkName(options.name),
    connection: options.connection,
    grace,
    handleSignals: options.handleSignals ?? false,
    progressIntervalMs: options.progressIntervalMs ?? 200,
    logger: checkLogger(options.logger),
    verbose: options.verbose ?? false,
    relay: options.relay,
    recordRetentionMs: options.recordRetentionMs,
    maxStalls: count('maxStalls', options.maxStalls ?? 10, 0, true),
    lockDurationMs,
    stalledIntervalMs: count('stalledIntervalMs', options.stalledIntervalMs ?? 30_000, 100),
    outage,
  };
}
