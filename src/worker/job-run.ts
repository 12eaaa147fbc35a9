import { DelayedError, UnrecoverableError, type Job } from 'bullmq';
import { asError, type JobLogFields } from '../observe/logger.js';
import { callLabel, type DeferredMetrics } from '../observe/metrics.js';
import type { QueueName } from '../options.js';
import { consumerSpan } from '../observe/tracing.js';
import { noteLastRun } from '../schedule/last-run.js';
import type { ResolvedWorkerOptions } from './worker-options.js';

/** How an attempt ended, as BullMQ will treat the error the pipeline throws. */
export type AttemptOutcome = 'completed' | 'retried' | 'failed' | 'put back';

/** The outcome of an attempt that threw `err` (already translated for BullMQ). */
export function outcomeOf(job: Job, err: unknown): AttemptOutcome {
  if (err instanceof DelayedError) return 'put back';
  if (err instanceof UnrecoverableError) return 'failed';
  return job.attemptsMade + 1 < (job.opts.attempts ?? 1) ? 'retried' : 'failed';
}

/**
 * One attempt as operators see it: a consumer span around it, and when it ends, a log record
 * (`warn` for a failure that will be retried, `error` for a final one), the metrics, and for a
 * schedule's job the schedule's last run.
 */
export class JobRun {
  private readonly startedAt = Date.now();
  readonly fields: JobLogFields;

  constructor(private readonly job: Job, queue: QueueName, private readonly o: ResolvedWorkerOptions, private readonly metrics: DeferredMetrics | undefined) {
    this.fields = { jobId: job.id, queue, call: callLabel(job.name), attempt: job.attemptsMade + 1 };
  }

  /** Runs the attempt in its span and reports how it ended. */
  async run<T>(work: () => Promise<T>): Promise<T> {
    this.observeWait();
    const carried = (this.job.data as { trace?: unknown } | undefined)?.trace;
    let value: T;
    try {
      const info = { queue: this.fields.queue, call: this.fields.call, jobId: this.job.id, attempt: this.fields.attempt };
      value = await consumerSpan(info, carried, work, (err) => outcomeOf(this.job, err) !== 'put back');
    } catch (err) {
      const outcome = outcomeOf(this.job, err);
      this.report(outcome, err);
      // A schedule's job: its outcome becomes the schedule's last run.
      if (this.job.repeatJobKey) await noteLastRun(this.job, outcome, this.startedAt);
      throw err;
    }
    this.report('completed');
    if (this.job.repeatJobKey) await noteLastRun(this.job, 'completed', this.startedAt);
    return value;
  }

  /** Logs and counts; a logger that throws never changes the outcome of a job whose work is done. */
  private report(outcome: AttemptOutcome, err?: unknown): void {
    try {
      this.ended(outcome, err);
    } catch {
      // Nowhere left to report it.
    }
  }

  /** From the moment the job was due to its first start (later starts wait for a retry or a put-back). */
  private observeWait(): void {
    if (this.job.attemptsStarted > 1 || !this.metrics) return;
    const due = this.job.timestamp + (this.job.delay ?? 0);
    this.metrics.wait.observe({ queue: this.fields.queue, call: this.fields.call }, Math.max(0, this.startedAt - due) / 1000);
  }

  private ended(outcome: AttemptOutcome, err?: unknown): void {
    const durationMs = Date.now() - this.startedAt;
    const fields = { ...this.fields, durationMs, ...(err === undefined ? {} : { err: asError(err) }) };
    const { logger, verbose } = this.o;
    if (outcome === 'completed' && verbose) logger.info(fields, 'job completed');
    else if (outcome === 'retried') logger.warn(fields, 'job failed; it will be retried');
    else if (outcome === 'failed') logger.error(fields, 'job failed');
    else if (outcome === 'put back') logger.debug?.(fields, 'job put back on its queue');
    const m = this.metrics;
    if (!m || outcome === 'put back') return;
    const labels = { queue: this.fields.queue, call: this.fields.call };
    m.duration.observe({ ...labels, outcome }, durationMs / 1000);
    if (outcome === 'completed') m.completed.inc(labels);
    else m.failed.inc({ ...labels, final: String(outcome === 'failed') });
    if (outcome === 'retried') m.retried.inc(labels);
  }
}
