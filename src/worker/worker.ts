import { Queue, Worker } from 'bullmq';
import type { DataSource } from 'typeorm';
import { ShutdownAbort, type AttemptScope } from './attempt.js';
import { CancelListener } from './cancel.js';
import { checkConnection, getConfig } from '../config.js';
import { startMaintenance } from './maintenance.js';
import { QUEUE_NAMES, type QueueName } from '../options.js';
import { asError, type Logger } from '../observe/logger.js';
import { callLabel, deferredMetrics } from '../observe/metrics.js';
import { JobPipeline } from './pipeline.js';
import { closeRedis, openRedis, ReadableWorker, refuseClusterNode } from '../queues.js';
import { READABLE_JOB } from '../call/readable-job.js';
import { within } from '../time.js';
import { syncSchedules } from '../schedule/sync.js';
import { keepDeclaredSchedules } from '../schedule/keep-declared.js';
import type { ScheduleDeclaration } from '../schedule/schedule-spec.js';
import { resolveWorkerOptions, type ResolvedWorkerOptions, type WorkerOptions } from './worker-options.js';

export type { WorkerOptions, WorkerLogger, OutageOptions, QueueRateLimit } from './worker-options.js';

/** A running worker process part. */
export interface DeferredWorker {
  /** Stops fetching, lets active jobs finish (bounded), closes connections. Idempotent. */
  close(): Promise<void>;
  /** The concurrency per queue this worker runs with. */
  readonly concurrency: Readonly<Record<QueueName, number>>;
  /** This worker's name (`startWorker({ name })`, by default `host:pid`). */
  readonly name: string;
  /**
   * Stops this process from taking new jobs, on every queue it consumes; other workers go on
   * (to pause a queue everywhere, see `pauseQueue`). Resolves once the jobs it was running have
   * finished (or been aborted by `close()`). While paused it also leaves the check for jobs of dead
   * workers to the other workers. Idempotent.
   */
  pause(): Promise<void>;
  /** Takes jobs again after {@link DeferredWorker.pause}; does nothing when not paused or closing. */
  resume(): Promise<void>;
  /** Whether {@link DeferredWorker.pause} was called without a resume since. */
  readonly paused: boolean;
}

// BullMQ's own stall limit is set out of reach: the worker applies `maxStalls` itself, so that a job
// past it whose work had committed is acknowledged rather than failed.
const BULLMQ_STALL_LIMIT = 1_000_000_000;

/** The logger with this worker's name on every record, so the lines of several workers can be told apart. */
function named(logger: Logger, worker: string): Logger {
  const add = (log: (fields: object, message?: string) => void) => (fields: object, message?: string) => log.call(logger, { ...fields, worker }, message);
  return {
    info: add(logger.info),
    warn: add(logger.warn),
    error: add(logger.error),
    ...(logger.debug ? { debug: add(logger.debug) } : {}),
  };
}

/**
 * Writes the queue-level settings this worker was given (global concurrency, rate limits) to Redis,
 * where every worker of the queue reads them; settings it was not given are left as they are.
 */
async function applyQueueSettings(o: ResolvedWorkerOptions, connection: Queue['opts']['connection'], prefixes: Readonly<Record<QueueName, string>>): Promise<void> {
  const queues = new Set([...Object.keys(o.global), ...Object.keys(o.limits)]) as Set<QueueName>;
  for (const name of queues) {
    const queue = new Queue(name, { connection, prefix: prefixes[name] });
    queue.on('error', () => undefined);
    try {
      const global = o.global[name];
      if (global === false) await queue.removeGlobalConcurrency();
      else if (global !== undefined) await queue.setGlobalConcurrency(global);
      const limit = o.limits[name];
      if (limit === false) await queue.removeGlobalRateLimit();
      else if (limit !== undefined) await queue.setGlobalRateLimit(limit.max, limit.durationMs);
    } finally {
      await queue.close();
    }
  }
}

/**
 * Makes the stored schedules match `configure({ schedules })` before the worker consumes: a wrong
 * declaration stops the start with its error instead of running without it.
 */
async function syncDeclaredSchedules(declared: Readonly<Record<string, ScheduleDeclaration>>, logger: ResolvedWorkerOptions['logger']): Promise<void> {
  const { added, changed, removed, unchanged } = await syncSchedules(declared);
  if (added.length + changed.length + removed.length) logger.info({ added, changed, removed, unchanged: unchanged.length }, 'schedules updated from the configuration');
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
  const resolved = resolveWorkerOptions(options);
  const o: ResolvedWorkerOptions = { ...resolved, logger: named(resolved.logger, resolved.name) };
  const { concurrency, logger } = o;
  // Before anything opens: a connection that is not one would quietly become 127.0.0.1:6379.
  if (o.connection !== undefined) checkConnection(o.connection, config.prefix, 'connection', config.queuePrefixes);

  // The worker opens data sources the application has not opened, and closes only those.
  const opened: DataSource[] = [];
  for (const ds of Object.values(config.dataSources)) {
    if (!ds.isInitialized) {
      await ds.initialize();
      opened.push(ds);
    }
  }

  const redis = openRedis(o.connection ?? config.connection, 'worker');
  try {
    await refuseClusterNode(redis.client);
    await applyQueueSettings(o, redis.client, config.queuePrefixes);
    if (config.schedules) await syncDeclaredSchedules(config.schedules, logger);
  } catch (err) {
    // A start that fails closes what it opened.
    await closeRedis(redis);
    await Promise.allSettled(opened.map((ds) => ds.destroy()));
    throw err;
  }
  const scope: AttemptScope = { cancels: await CancelListener.start(redis.client, config.prefix), active: new Set() };
  const metrics = await deferredMetrics();
  const pipeline = new JobPipeline(o, scope, metrics);
  const workers = QUEUE_NAMES.filter((q) => concurrency[q] > 0).map((queue) => {
    const worker = new ReadableWorker(queue, (job, token) => pipeline.process(job, queue, token), {
      connection: redis.client, prefix: config.queuePrefixes[queue], concurrency: concurrency[queue], name: o.name,
      maxStalledCount: BULLMQ_STALL_LIMIT, lockDuration: o.lockDurationMs, stalledInterval: o.stalledIntervalMs,
      ...(config.telemetry ? { telemetry: config.telemetry } : {}),
    });
    worker.on('error', (err) => logger.error({ queue, err }, 'worker error'));
    worker.on('stalled', (jobId) => void stalled(worker, queue, jobId));
    return worker;
  });
  /** A job taken back from a dead worker (its lock expired): it runs again, counted and logged. */
  async function stalled(worker: Worker, queue: QueueName, jobId: string): Promise<void> {
    const job = await READABLE_JOB.fromId(worker, jobId).catch(() => undefined);
    const call = callLabel(job?.name);
    metrics?.stalled.inc({ queue, call });
    logger.warn({ jobId, queue, call }, 'job taken back from a worker that died or lost its lock; it runs again');
  }

  await Promise.all(workers.map((w) => w.waitUntilReady()));
  const stopMaintenance = startMaintenance(o);
  const stopKeeping = config.schedules ? keepDeclaredSchedules(config.schedules, logger) : async () => undefined;
  logger.info({
    queues: Object.fromEntries(QUEUE_NAMES.map((q) => [q, concurrency[q]])), prefix: config.prefix,
    ...(QUEUE_NAMES.some((q) => config.queuePrefixes[q] !== config.prefix) ? { queuePrefixes: config.queuePrefixes } : {}),
    ...(Object.keys(o.global).length ? { global: o.global } : {}), ...(Object.keys(o.limits).length ? { limits: o.limits } : {}),
  }, 'worker started');

  const onSignal = (signal: NodeJS.Signals) => {
    logger.info({ signal, graceMs: o.grace }, 'stopping: finishing active jobs, then exiting');
    handle.close().then(() => process.exit(0), (err: unknown) => {
      logger.error({ err: asError(err) }, 'error while closing the worker');
      process.exit(1);
    });
  };

  async function close(): Promise<void> {
    await Promise.all([stopMaintenance(), stopKeeping()]);
    if (o.handleSignals) {
      process.off('SIGTERM', onSignal);
      process.off('SIGINT', onSignal);
    }
    const finished = Promise.allSettled(workers.map((w) => w.close()));
    if ((await within(finished, o.grace)) === 'late') {
      // Past the grace period: abort what still runs; each aborted job hands itself back to the queue.
      for (const c of scope.active) c.abort(new ShutdownAbort());
      if ((await within(finished, 5_000)) === 'late') await Promise.allSettled(workers.map((w) => w.close(true)));
    }
    // Every step runs even when one fails; the first failure is reported.
    const steps = await Promise.allSettled([scope.cancels.close(), closeRedis(redis), ...opened.map((ds) => ds.destroy())]);
    const failed = steps.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failed) throw failed.reason;
    logger.info({ prefix: config.prefix }, 'worker stopped');
  }

  let closing: Promise<void> | undefined;
  let pausing: Promise<unknown> | undefined;
  const handle: DeferredWorker = {
    concurrency,
    name: o.name,
    close: () => (closing ??= close()),
    get paused() {
      return pausing !== undefined;
    },
    async pause() {
      if (closing) return;
      if (!pausing) {
        logger.info({}, 'worker paused: it takes no new job until resume()');
        // BullMQ waits for the jobs it was running (doNotWaitActive false): "paused" means nothing runs here.
        // One promise for every caller, since a second BullMQ pause() would resolve at once.
        pausing = Promise.allSettled(workers.map((w) => w.pause()));
      }
      await pausing;
    },
    async resume() {
      if (closing || !pausing) return;
      await pausing;
      pausing = undefined;
      await Promise.all(workers.map((w) => w.resume()));
      logger.info({}, 'worker resumed');
    },
  };
  if (o.handleSignals) {
    process.once('SIGTERM', onSignal);
    process.once('SIGINT', onSignal);
  }
  return handle;
}
