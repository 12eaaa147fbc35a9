import type { ConnectionSetting } from '../config.js';
import { DeferralError } from '../errors.js';
import { validateConcurrency, type QueueConcurrency, type QueueName } from '../options.js';
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

/**
 * Options of `startWorker`.
 *
 * @example
 * ```ts
 * await startWorker({ queues: { high: 4, default: 2, low: 1 }, shutdownTimeoutMs: 10_000, maxStalls: 10 })
 * ```
 */
export interface WorkerOptions {
  /** Concurrency per queue; 0 leaves a queue to other processes. @defaultValue `{ high: 1, default: 1, low: 1 }` */
  queues?: QueueConcurrency;
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
  concurrency: Required<QueueConcurrency> & Record<QueueName, number>;
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
  return new DeferralError('DEFER_ERR_INVALID_OPTION', `Invalid option ${option}: ${String(value)} ${why}`, { option, value });
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
