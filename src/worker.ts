import { DelayedError, UnrecoverableError, Worker, type Job } from 'bullmq';
import type { DataSource } from 'typeorm';
import { runAttempt, ShutdownAbort, type AttemptScope } from './attempt.js';
import { parsePayload } from './call.js';
import { CancelListener } from './cancel.js';
import { getConfig } from './config.js';
import { DeferralError, UNRECOVERABLE_CODES } from './errors.js';
import { authorizeCall, prepareCall } from './invoke.js';
import { startMaintenance } from './maintenance.js';
import { QUEUE_NAMES, validateConcurrency, type QueueName } from './options.js';
import { ProgressReporter } from './progress.js';
import { closeRedis, openRedis } from './queues.js';
import { iso, markRecord, recordsEnabled } from './records.js';
import { serialized } from './single-connection.js';
import { within } from './time.js';
import type { WorkerOptions } from './worker-options.js';

export type { WorkerOptions, WorkerLogger } from './worker-options.js';

/** A running worker process part. */
export interface DeferredWorker {
  /** Stops fetching, lets active jobs finish (bounded), closes connections. Idempotent. */
  close(): Promise<void>;
  /** The concurrency per queue this worker runs with. */
  readonly concurrency: Readonly<Record<QueueName, number>>;
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
          return await runAttempt({ job, queue, prepared, opts: payload.opts, reporter, records }, scope);
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
  const scope: AttemptScope = { cancels: await CancelListener.start(redis.client, config.prefix), active };
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

  const stopMaintenance = startMaintenance(options, logger);

  let closing: Promise<void> | undefined;
  const onSignal = (signal: NodeJS.Signals) => {
    logger.info(`[typeorm-deferred] ${signal}: finishing active jobs (up to ${grace} ms), then exiting`);
    handle.close().then(() => process.exit(0), (err) => {
      logger.error('[typeorm-deferred] error while closing', err);
      process.exit(1);
    });
  };

  async function close(): Promise<void> {
    await stopMaintenance();
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
    const steps = await Promise.allSettled([scope.cancels.close(), closeRedis(redis), ...opened.map((ds) => ds.destroy())]);
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
