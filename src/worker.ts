import { DelayedError, UnrecoverableError, Worker, type Job } from 'bullmq';
import type { DataSource, EntityManager } from 'typeorm';
import { DeferredJobRecord } from '../entities/deferred-job-record.js';
import { encodeResult, parsePayload, type EncodedResult } from './call.js';
import { iso, markRecord, pruneJobs, recordedResult, recordingSources, recordsEnabled, storedResult } from './records.js';
import { reconcileRecords } from './reconcile.js';
import { relayPendingJobs, type RelayOptions } from './relay.js';
import { CancelListener } from './cancel.js';
import { getConfig, type ConnectionSetting } from './config.js';
import { runInJob, type JobContext } from './context.js';
import { DeferralError, UNRECOVERABLE_CODES } from './errors.js';
import { authorizeCall, prepareCall, type PreparedCall } from './invoke.js';
import { QUEUE_NAMES, validateConcurrency, type QueueConcurrency, type QueueName } from './options.js';
import { ProgressReporter } from './progress.js';
import { closeRedis, openRedis } from './queues.js';
import { isSingleConnection, serialized } from './single-connection.js';
import { isTransientDbError, TRANSIENT_RETRIES } from './transient.js';

/** What a worker reports: one line per finished job, and worker-level errors. */
export interface WorkerLogger {
  info(message: string): void;
  error(message: string, err?: unknown): void;
}

/**
 * Options of {@link startWorker}.
 *
 * @example
 * ```ts
 * await startWorker({ queues: { high: 4, default: 2, low: 1 }, shutdownTimeoutMs: 10_000 })
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
  /** Where worker-level errors and (with `verbose`) job outcomes go. @defaultValue errors to `console.error` */
  logger?: WorkerLogger;
  /** Log a line per finished job. @defaultValue `false` */
  verbose?: boolean;
  /**
   * The relay that pushes recorded jobs which never reached Redis (see DeferredJobRecord), and on
   * the same rounds finishes rows whose BullMQ job ended without a worker to record it;
   * `false` turns both off. @defaultValue `{ intervalMs: 5000, olderThanMs: 5000, leaseMs: 60000 }`
   */
  relay?: false | (Omit<RelayOptions, 'dataSource'> & { intervalMs?: number });
  /** Delete finished job rows older than this (ms), on the relay's rounds. @defaultValue keep them */
  recordRetentionMs?: number;
}

/** A running worker process part. */
export interface DeferredWorker {
  /** Stops fetching, lets active jobs finish (bounded), closes connections. Idempotent. */
  close(): Promise<void>;
  /** The concurrency per queue this worker runs with. */
  readonly concurrency: Readonly<Record<QueueName, number>>;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Resolves 'late' when `work` has not settled within `ms`. */
async function within(work: Promise<unknown>, ms: number): Promise<'done' | 'late'> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((resolve) => { timer = setTimeout(() => resolve('late'), ms); });
  try {
    return await Promise.race([work.then(() => 'done' as const), late]);
  } finally {
    clearTimeout(timer);
  }
}

/** BullMQ retries any error but an UnrecoverableError; ours keep their code in the stack header. */
function forBullMQ(err: unknown): Error {
  if (err instanceof DeferralError && UNRECOVERABLE_CODES.has(err.code)) {
    const unrecoverable = new UnrecoverableError(err.message);
    unrecoverable.stack = err.stack;
    return unrecoverable;
  }
  return err instanceof Error ? err : new Error(typeof err === 'string' ? err : JSON.stringify(err));
}

/** Why a job was aborted when the worker shut down past its grace period: it goes back to the queue. */
class ShutdownAbort extends Error {
  constructor() {
    super('The worker shut down while the job ran; the job goes back to the queue');
  }
}

/**
 * What the row says before the method runs: the stored result of a job already completed (a
 * repeated delivery), or DEFER_ERR_CANCELLED for a job cancelled while its push was under way.
 */
async function recordedOutcome(manager: EntityManager, id: string, queue: QueueName, lock: boolean): Promise<EncodedResult | undefined> {
  const row = await manager.findOne(DeferredJobRecord, { where: { id }, select: { id: true, state: true, result: true }, ...(lock ? { lock: { mode: 'pessimistic_write' as const } } : {}) });
  if (row?.state === 'cancelled') throw new DeferralError('DEFER_ERR_CANCELLED', `Job ${id} was cancelled before it ran`, { jobId: id, queue });
  return row?.state === 'completed' ? recordedResult(row) ?? encodeResult(undefined) : undefined;
}

/** True when BullMQ puts a retried job in its delayed set (a backoff with a delay). */
function retryDelayed(job: Job): boolean {
  const backoff = job.opts.backoff;
  return typeof backoff === 'number' ? backoff > 0 : (backoff?.delay ?? 0) > 0;
}

/** Records a failed attempt: failed (or cancelled) for good, or back to queued (delayed, with a backoff) when BullMQ will retry. */
async function recordFailure(dataSource: DataSource, job: Job, err: unknown, reporter: ProgressReporter): Promise<void> {
  const code = err instanceof DeferralError ? err.code : undefined;
  const retried = err instanceof ShutdownAbort
    || (code !== 'DEFER_ERR_CANCELLED' && !(code && UNRECOVERABLE_CODES.has(code)) && job.attemptsMade + 1 < (job.opts.attempts ?? 1));
  const state = retried ? (retryDelayed(job) ? 'delayed' : 'queued') : code === 'DEFER_ERR_CANCELLED' ? 'cancelled' : 'failed';
  const { percent, message } = reporter.current;
  await markRecord(dataSource.manager, job.id!, {
    state, error: err instanceof Error ? err.message : String(err), percent: Math.round(percent), message: message ?? null,
    ...(retried ? {} : { finishedAt: iso() }),
  });
}

/**
 * Races the work against the job's AbortSignal (timeout, cancel, shutdown), so a
 * method that ignores the signal still ends the attempt and rolls its transaction back.
 */
function untilAborted<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  let onAbort: (() => void) | undefined;
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(signal.reason);
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
  });
  return Promise.race([work, aborted]).finally(() => signal.removeEventListener('abort', onAbort!));
}

/**
 * Starts consuming the three queues in this process.
 *
 * @example
 * ```ts
 * configure({ dataSources: { main: AppDataSource } })
 * const worker = await startWorker({ queues: { high: 2, default: 1, low: 1 } })
 * process.on('SIGTERM', () => worker.close())
 * ```
 */
export async function startWorker(options: WorkerOptions = {}): Promise<DeferredWorker> {
  const config = getConfig();
  const concurrency = validateConcurrency(options.queues);
  const grace = options.shutdownTimeoutMs ?? 30_000;
  if (!(Number.isFinite(grace) && grace >= 0)) {
    throw new DeferralError('DEFER_ERR_INVALID_OPTION', `Invalid option shutdownTimeoutMs: ${grace} must be a number of ms ≥ 0`, { option: 'shutdownTimeoutMs', value: grace });
  }
  const logger = options.logger ?? { info: () => undefined, error: (m: string, e?: unknown) => console.error(m, e ?? '') };
  const active = new Set<AbortController>();

  // The worker opens data sources the application has not opened, and closes only those.
  const opened: DataSource[] = [];
  for (const ds of Object.values(config.dataSources)) {
    if (!ds.isInitialized) {
      await ds.initialize();
      opened.push(ds);
    }
  }

  async function runAttempt(job: Job, queue: QueueName, prepared: PreparedCall, timeout: number | undefined, transaction: boolean, reporter: ProgressReporter, records: boolean): Promise<unknown> {
    const { dataSource } = prepared;
    const controller = new AbortController();
    active.add(controller);
    const untrack = cancels.track(job.id!, () => controller.abort(
      new DeferralError('DEFER_ERR_CANCELLED', `Job ${job.id} was cancelled while it ran`, { jobId: job.id, queue })));
    const timer = timeout === undefined ? undefined : setTimeout(() => controller.abort(
      new DeferralError('DEFER_ERR_TIMEOUT', `Job ${job.id} ran longer than its timeout of ${timeout} ms`, { jobId: job.id, timeoutMs: timeout })), timeout);
    const execute = (manager: EntityManager) => {
      const ctx: JobContext = {
        id: job.id!, queue, uid: prepared.info.uid, attempt: job.attemptsMade + 1, manager, dataSource,
        signal: controller.signal,
        reportProgress: (report) => reporter.report(report),
        log: (line) => void job.log(String(line)).catch(() => undefined),
      };
      const run = async (): Promise<EncodedResult> => {
        if (records) {
          // A job delivered again (after a crash, or pushed twice) whose row says completed: acknowledge, do not re-run.
          const done = await recordedOutcome(manager, job.id!, queue, transaction && !isSingleConnection(dataSource));
          if (done) return done;
        }
        // The result is encoded inside the transaction: one that cannot be stored rolls the work back.
        const encoded = encodeResult(await runInJob(ctx, () => prepared.run(manager)));
        // The row is completed in the same transaction as the method's writes: both commit, or neither.
        if (records) {
          await manager.update(DeferredJobRecord, { id: job.id! }, {
            state: 'completed', result: storedResult(encoded), percent: 100,
            message: reporter.current.message ?? null, error: null, finishedAt: iso(),
          });
        }
        return encoded;
      };
      return untilAborted(run(), controller.signal);
    };
    try {
      for (let retry = 0; ; retry++) {
        try {
          return await (transaction ? dataSource.transaction(execute) : execute(dataSource.manager));
        } catch (err) {
          if (retry >= TRANSIENT_RETRIES || !isTransientDbError(err) || controller.signal.aborted) throw err;
          await sleep(25 * 2 ** retry + Math.random() * 25);
        }
      }
    } finally {
      clearTimeout(timer);
      untrack();
      active.delete(controller);
    }
  }

  async function processJob(job: Job, queue: QueueName, token: string | undefined): Promise<unknown> {
    const reporter = new ProgressReporter(job, options.progressIntervalMs ?? 200);
    try {
      const payload = parsePayload(job.data);
      const prepared = prepareCall(payload, config.dataSources);
      await authorizeCall(config.authorize, { ...prepared.info, queue, jobId: job.id });
      const records = recordsEnabled(prepared.dataSource);
      return await serialized(prepared.dataSource, async () => {
        if (records) await markRecord(prepared.dataSource.manager, job.id!, { state: 'active', startedAt: iso(), attempts: job.attemptsMade + 1 }).catch(() => false);
        try {
          return await runAttempt(job, queue, prepared, payload.opts.timeout, payload.opts.transaction, reporter, records);
        } catch (err) {
          if (records) await recordFailure(prepared.dataSource, job, err, reporter).catch(() => undefined);
          throw err;
        }
      });
    } catch (err) {
      if (err instanceof ShutdownAbort) {
        // Back to the queue at once, without spending an attempt: another worker runs it.
        await job.moveToDelayed(Date.now(), token);
        throw new DelayedError();
      }
      throw forBullMQ(err);
    } finally {
      await reporter.flush();
    }
  }

  const redis = openRedis(options.connection ?? config.connection, 'worker');
  const cancels = await CancelListener.start(redis.client, config.prefix);
  const workers = QUEUE_NAMES.filter((q) => concurrency[q] > 0).map((queue) => {
    const worker = new Worker(queue, (job, token) => processJob(job, queue, token), {
      connection: redis.client, prefix: config.prefix, concurrency: concurrency[queue],
    });
    worker.on('error', (err) => logger.error(`[typeorm-deferred] worker error on queue ${queue}: ${err.message}`, err));
    if (options.verbose) {
      worker.on('completed', (job) => logger.info(`[typeorm-deferred] ${queue} ${job.id} ${job.name} completed`));
      worker.on('failed', (job, err) => logger.info(`[typeorm-deferred] ${queue} ${job?.id} ${job?.name} failed: ${err.message}`));
    }
    return worker;
  });
  await Promise.all(workers.map((w) => w.waitUntilReady()));

  // The relay and the row retention run on a timer, only where some data source records jobs.
  let relayTimer: NodeJS.Timeout | undefined;
  let relayRound: Promise<unknown> = Promise.resolve();
  const recording = Object.values(config.dataSources).some(recordsEnabled);
  if (recording && options.relay !== false) {
    const { intervalMs = 5_000, ...relayOptions } = options.relay ?? {};
    const round = async () => {
      await relayPendingJobs(relayOptions);
      for (const ds of recordingSources()) {
        await reconcileRecords(ds, { olderThanMs: relayOptions.leaseMs });
        if (options.recordRetentionMs !== undefined) await pruneJobs({ olderThanMs: options.recordRetentionMs, dataSource: ds });
      }
    };
    const tick = () => {
      relayRound = round().catch((err: unknown) => logger.error('[typeorm-deferred] relay round failed', err));
      void relayRound.then(() => { if (relayTimer) relayTimer = setTimeout(tick, intervalMs); });
    };
    relayTimer = setTimeout(tick, Math.min(intervalMs, 1_000));
  }

  let closing: Promise<void> | undefined;
  const onSignal = (signal: NodeJS.Signals) => {
    logger.info(`[typeorm-deferred] ${signal}: finishing active jobs (up to ${grace} ms), then exiting`);
    handle.close().then(() => process.exit(0), (err) => {
      logger.error('[typeorm-deferred] error while closing', err);
      process.exit(1);
    });
  };

  async function close(): Promise<void> {
    clearTimeout(relayTimer);
    relayTimer = undefined;
    await relayRound;
    if (options.handleSignals) {
      process.off('SIGTERM', onSignal);
      process.off('SIGINT', onSignal);
    }
    const finished = Promise.allSettled(workers.map((w) => w.close()));
    if ((await within(finished, grace)) === 'late') {
      // Past the grace period: abort what still runs; each aborted job hands itself back to the queue.
      for (const c of active) c.abort(new ShutdownAbort());
      if ((await within(finished, 5_000)) === 'late') await Promise.allSettled(workers.map((w) => w.close(true)));
    }
    // Every step runs even when one fails; the first failure is reported.
    const steps = await Promise.allSettled([cancels.close(), closeRedis(redis), ...opened.map((ds) => ds.destroy())]);
    const failed = steps.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failed) throw failed.reason;
  }

  const handle: DeferredWorker = {
    concurrency,
    close: () => (closing ??= close()),
  };
  if (options.handleSignals) {
    process.once('SIGTERM', onSignal);
    process.once('SIGINT', onSignal);
  }
  return handle;
}
