import { DelayedError, UnrecoverableError, type Job } from 'bullmq';
import type { DataSource } from 'typeorm';
import { recordedOutcome, runAttempt, ShutdownAbort, type AttemptScope } from './attempt.js';
import { parsePayload, type CallPayload, type EncodedResult } from '../call/call.js';
import { getConfig } from '../config.js';
import { DeferralError, UNRECOVERABLE_CODES } from '../errors.js';
import { authorizeCall, prepareCall, dataSourceNamed } from '../call/invoke.js';
import { storedText } from '../limits.js';
import type { QueueName } from '../options.js';
import { JobRun } from './job-run.js';
import { recordScheduledJob } from '../schedule/job-row.js';
import { cancelledQueue } from './cancel.js';
import { producerRedis } from '../queues.js';
import { asError } from '../observe/logger.js';
import type { DeferredMetrics } from '../observe/metrics.js';
import { isOutage, outageDelay } from './outage.js';
import { ProgressReporter } from './progress.js';
import { iso, markRecord, recordsEnabled } from '../outbox/records.js';
import { serialized } from '../outbox/single-connection.js';
import type { ResolvedWorkerOptions } from './worker-options.js';

/** BullMQ retries any error but an UnrecoverableError; ours keep their code in the stack header. */
function forBullMQ(err: unknown): Error {
  if (err instanceof DeferralError && UNRECOVERABLE_CODES.has(err.code)) {
    const unrecoverable = new UnrecoverableError(err.message);
    unrecoverable.stack = err.stack;
    return unrecoverable;
  }
  return err instanceof Error ? err : new Error(typeof err === 'string' ? err : JSON.stringify(err));
}

/** The job goes back to its queue after `delayMs`, without spending an attempt (shutdown, outage). */
class PutBack extends Error {
  constructor(readonly delayMs: number) {
    super('put back');
  }
}

/** True when BullMQ puts a retried job in its delayed set (a backoff with a delay). */
function retryDelayed(job: Job): boolean {
  const backoff = job.opts.backoff;
  return typeof backoff === 'number' ? backoff > 0 : (backoff?.delay ?? 0) > 0;
}

/** Records a failed attempt: failed (or cancelled) for good, or back to queued (delayed, with a backoff) when the job runs again. */
async function recordFailure(dataSource: DataSource, job: Job, err: unknown, reporter: ProgressReporter): Promise<void> {
  const code = err instanceof DeferralError ? err.code : undefined;
  const retried = err instanceof ShutdownAbort
    || (!(code && UNRECOVERABLE_CODES.has(code)) && job.attemptsMade + 1 < (job.opts.attempts ?? 1));
  const state = retried ? (retryDelayed(job) && !(err instanceof ShutdownAbort) ? 'delayed' : 'queued') : code === 'DEFER_ERR_CANCELLED' ? 'cancelled' : 'failed';
  const { percent, message } = reporter.current;
  await markRecord(dataSource.manager, job.id!, {
    state, attempts: job.attemptsMade + 1, startedAt: iso(job.processedOn ?? Date.now()), error: storedText(err instanceof Error ? err.message : String(err)), percent: Math.round(percent), message: storedText(message ?? null),
    ...(retried ? {} : { finishedAt: iso() }),
  });
}

/**
 * Consumes the queues: for each job, the payload is checked, the call prepared and authorized,
 * and the attempt run; failures are recorded, and jobs interrupted by a shutdown or a database
 * outage go back to their queue without spending an attempt.
 */
export class JobPipeline {
  private readonly outageLogged = new Map<string, number>();

  constructor(private readonly o: ResolvedWorkerOptions, private readonly scope: AttemptScope, private readonly metrics: DeferredMetrics | undefined) {}

  /** Processes one job, observed: a span, a log record and metrics per attempt. */
  process(job: Job, queue: QueueName, token: string | undefined): Promise<unknown> {
    return new JobRun(job, queue, this.o, this.metrics).run(() => this.processJob(job, queue, token));
  }

  private async processJob(job: Job, queue: QueueName, token: string | undefined): Promise<unknown> {
    const reporter = new ProgressReporter(job, this.o.progressIntervalMs);
    try {
      const payload = parsePayload(job.data);
      const dataSource = dataSourceNamed(getConfig().dataSources, payload.ds);
      return await serialized(dataSource, () => this.attempt(job, queue, payload, dataSource, reporter));
    } catch (err) {
      if (err instanceof PutBack) {
        await job.moveToDelayed(Date.now() + err.delayMs, token);
        throw new DelayedError();
      }
      throw forBullMQ(err);
    } finally {
      const flushed = reporter.flush();
      if (flushed) await flushed;
    }
  }

  /** One attempt, with its row kept up to date; runs alone on a single-connection data source. */
  private async attempt(job: Job, queue: QueueName, payload: CallPayload, dataSource: DataSource, reporter: ProgressReporter): Promise<EncodedResult> {
    const config = getConfig();
    const records = recordsEnabled(dataSource);
    try {
      if (job.stalledCounter > this.o.maxStalls) return await this.pastStallLimit(job, queue, dataSource, records);
      const prepared = prepareCall(payload, config.dataSources);
      if (job.repeatJobKey) await this.startScheduled(job, queue, payload, dataSource, records);
      // Without a hook there is nothing to wait for (one promise less per job).
      if (config.authorize) await authorizeCall(config.authorize, { ...prepared.info, queue, jobId: job.id });
      // No write to the row before the attempt: while the job runs, Redis says `active`; the row is
      // completed in the job's own transaction, or marked by recordFailure() below.
      return await runAttempt({ job, queue, prepared, opts: payload.opts, reporter, records }, this.scope);
    } catch (err) {
      const delayMs = await this.putBackDelay(err, job, payload.ds, dataSource);
      // An outage is not recorded (the database is down); the next attempt marks the row again.
      if (records && (delayMs === undefined || err instanceof ShutdownAbort)) {
        await recordFailure(dataSource, job, err, reporter).catch((e: unknown) => this.o.logger.error({ jobId: job.id, queue, err: asError(e) }, 'could not record the outcome of the job in its row; a maintenance round will'));
      }
      if (delayMs !== undefined) throw new PutBack(delayMs);
      throw err;
    }
  }

  /**
   * A schedule's job: it had no row written at enqueue (BullMQ made it), and cancel() could not
   * remove it (BullMQ keeps it: the schedule's next job is made when it starts), so its cancel
   * mark is read here.
   */
  private async startScheduled(job: Job, queue: QueueName, payload: CallPayload, dataSource: DataSource, records: boolean): Promise<void> {
    if (records) await recordScheduledJob(dataSource, job, payload, queue);
    if ((await cancelledQueue(producerRedis(), getConfig().prefix, job.id!)) !== null) {
      throw new DeferralError('DEFER_ERR_CANCELLED', `Job ${job.id} was cancelled before it ran`, { jobId: job.id, queue });
    }
  }

  /** A job taken back from dead workers more than `maxStalls` times: acknowledged if its work committed, else DEFER_ERR_STALLED. */
  private async pastStallLimit(job: Job, queue: QueueName, dataSource: DataSource, records: boolean): Promise<EncodedResult> {
    const done = records ? await recordedOutcome(dataSource.manager, job.id!, queue, false) : undefined;
    if (done) return done;
    throw new DeferralError('DEFER_ERR_STALLED', `Job ${job.id} was taken back from a worker that died (or lost its lock) while running it ${job.stalledCounter} times, more than maxStalls (${this.o.maxStalls}); it may be what kills its worker (memory, a native crash)`, { jobId: job.id, queue, stalls: job.stalledCounter });
  }

  /** When the job should go back to its queue instead of failing: at once after a shutdown, later during an outage. */
  private async putBackDelay(err: unknown, job: Job, name: string, dataSource: DataSource): Promise<number | undefined> {
    if (err instanceof ShutdownAbort) return 0;
    if (!this.o.outage || !(await isOutage(err, dataSource))) return undefined;
    const delayMs = outageDelay(job, this.o.outage);
    if (delayMs !== undefined && Date.now() - (this.outageLogged.get(name) ?? 0) > 5_000) {
      this.outageLogged.set(name, Date.now());
      this.o.logger.warn({ dataSource: name, delayMs, err: asError(err) }, 'database unreachable: its jobs go back to their queues without spending an attempt');
    }
    return delayMs;
  }
}

