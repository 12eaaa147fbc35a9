import { DeferralError } from '../src/errors.js';
import type { DeferredJob, DeferredJobState, JobSnapshot } from '../src/job/job.js';
import type { QueueName } from '../src/options.js';
import type { ProgressSink, ProgressState } from '../src/worker/progress.js';
import type { Uid } from '../src/call/call.js';

/** A failure as the handle keeps it. */
interface Failure {
  message: string;
  stack?: string;
  code?: string;
}

/**
 * The handle `Deferred()` and `submitTask()` return under `fakeQueues()`: `waiting` until
 * `runRecorded()` runs the call, then what it came to. Nothing here touches Redis.
 */
export class FakeJob<R = unknown> implements DeferredJob<R> {
  private current: DeferredJobState = 'waiting';
  private percent = 0;
  private message: string | undefined;
  private value: R | undefined;
  private failure: Failure | undefined;
  private readonly createdAt = new Date();
  private startedAt: Date | undefined;
  private finishedAt: Date | undefined;
  private attemptsMade = 0;
  private settle!: () => void;
  private readonly settled = new Promise<void>((resolve) => { this.settle = resolve; });

  constructor(readonly id: string, readonly queue: QueueName, private readonly name: string, private readonly uid: Uid, private readonly attempts: number, private readonly runAt: Date | undefined) {}

  /** Where the attempt's progress reports and log lines go. */
  readonly sink: ProgressSink & { line(text: string): void } = {
    updateProgress: async (percent) => { this.percent = percent; },
    log: async (line) => { this.message = String(line); },
    line: (text) => { this.message = String(text); },
  };

  /** True once it ran or was cancelled. */
  get finished(): boolean {
    return this.current === 'completed' || this.current === 'failed' || this.current === 'cancelled';
  }

  /** The attempt starts. */
  start(): void {
    this.current = 'active';
    this.startedAt = new Date();
    this.attemptsMade = 1;
  }

  /** The attempt ended: completed with `value`, or failed with `failure`. */
  finish(outcome: { value: R } | { failure: Failure }): void {
    this.finishedAt = new Date();
    if ('failure' in outcome) {
      this.current = outcome.failure.code === 'DEFER_ERR_CANCELLED' ? 'cancelled' : 'failed';
      this.failure = outcome.failure;
    } else {
      this.current = 'completed';
      this.percent = 100;
      this.value = outcome.value;
    }
    this.settle();
  }

  async state(): Promise<DeferredJobState> {
    return this.current;
  }

  async progress(): Promise<ProgressState> {
    return this.message === undefined ? { percent: this.percent } : { percent: this.percent, message: this.message };
  }

  /** Waits for `runRecorded()` to run the call (or `timeoutMs`), then resolves its result or rejects as a queued job's handle does. */
  async result({ timeoutMs }: { timeoutMs?: number } = {}): Promise<R> {
    if (!this.finished && timeoutMs !== undefined) {
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<'late'>((resolve) => { timer = setTimeout(() => resolve('late'), Math.max(0, timeoutMs)); });
      const first = await Promise.race([this.settled, late]).finally(() => clearTimeout(timer));
      if (first === 'late') throw new DeferralError('DEFER_ERR_TIMEOUT', `Job ${this.id} did not finish within ${timeoutMs} ms (under fakeQueues(), recorded calls run in runRecorded())`, { jobId: this.id, queue: this.queue, timeoutMs });
    }
    await this.settled;
    if (this.current === 'completed') return this.value as R;
    if (this.current === 'cancelled') throw new DeferralError('DEFER_ERR_CANCELLED', `Job ${this.id} was cancelled`, { jobId: this.id, queue: this.queue });
    const f = this.failure!;
    throw new DeferralError('DEFER_ERR_JOB_FAILED', `Job ${this.id} (${this.name}) failed: ${f.message}`, {
      jobId: this.id, queue: this.queue, remoteMessage: f.message, remoteStack: f.stack, remoteCode: f.code, attemptsMade: this.attemptsMade,
    });
  }

  /** A call not run yet is dropped: `runRecorded()` skips it. */
  async cancel(): Promise<boolean> {
    if (this.current !== 'waiting') return false;
    this.current = 'cancelled';
    this.finishedAt = new Date();
    this.settle();
    return true;
  }

  async snapshot(): Promise<JobSnapshot<R>> {
    const snap: JobSnapshot<R> = {
      id: this.id, queue: this.queue, name: this.name, state: this.current, percent: this.percent, message: this.message, uid: this.uid,
      attemptsMade: this.attemptsMade, attempts: this.attempts, createdAt: this.createdAt, runAt: this.runAt,
      startedAt: this.startedAt, finishedAt: this.finishedAt,
    };
    if (this.current === 'completed') snap.result = this.value;
    if (this.failure) snap.error = { ...this.failure };
    return snap;
  }
}
