import type { Job, Queue } from 'bullmq';
import type { DataSource } from 'typeorm';
import { DeferredJobRecord } from '../entities/deferred-job-record.js';
import type { CommitGate } from './after-commit.js';
import { iso, markRecord } from './records.js';
import { decodeResult } from './call.js';
import { cancelledQueue, markCancelled, requestCancel } from './cancel.js';
import { getConfig } from './config.js';
import { codeFromStack, DeferralError } from './errors.js';
import { QUEUE_NAMES, type QueueName } from './options.js';
import type { ProgressState } from './progress.js';
import { producerQueue, producerRedis } from './queues.js';

/**
 * Where a job is in its life. `pending`: recorded and committed, not yet in Redis (the push
 * follows the commit, or a relay does it); `cancelled`: cancelled before or while it ran.
 */
export type DeferredJobState = 'pending' | 'waiting' | 'delayed' | 'active' | 'completed' | 'failed' | 'cancelled' | 'unknown';

/**
 * A handle on a deferred call, returned by `Deferred()` and `getJob()`.
 *
 * @example
 * ```ts
 * const job = await Deferred(Invoice, 'main', uid, 'recomputeAll')
 * console.log(await job.state(), await job.result({ timeoutMs: 30_000 }))
 * ```
 */
export interface DeferredJob<R = unknown> {
  /** The BullMQ job id, unique across the three queues. */
  readonly id: string;
  readonly queue: QueueName;
  state(): Promise<DeferredJobState>;
  /** The latest reported progress: percent (0–100) and message. */
  progress(): Promise<ProgressState>;
  /**
   * Waits for the job to finish and resolves its decoded return value. Rejects with
   * DEFER_ERR_JOB_FAILED (remote message, stack and code in `details`), DEFER_ERR_CANCELLED,
   * DEFER_ERR_JOB_NOT_FOUND, or DEFER_ERR_TIMEOUT after `timeoutMs`.
   */
  result(options?: { timeoutMs?: number }): Promise<R>;
  /**
   * Cancels the job: a waiting or delayed job is removed; a running one has its AbortSignal
   * aborted and ends as `cancelled`, its transaction rolled back. Resolves false for a finished job.
   */
  cancel(): Promise<boolean>;
  /** Everything known about the job in one read: state, progress, result or error, attempts, times. */
  snapshot(): Promise<JobSnapshot<R>>;
}

/** One read of everything known about a job, as `snapshot()`, the CLI and the job API show it. */
export interface JobSnapshot<R = unknown> {
  id: string;
  queue: QueueName;
  /** `Model.method`. */
  name?: string;
  state: DeferredJobState;
  percent: number;
  message?: string;
  /** The decoded return value, once completed. */
  result?: R;
  /** The failure, once failed (for good: retries are over). */
  error?: { message: string; stack?: string; code?: string };
  uid?: string | number;
  attemptsMade: number;
  attempts: number;
  createdAt?: Date;
  /** When a delayed job becomes due. */
  runAt?: Date;
  startedAt?: Date;
  finishedAt?: Date;
}


const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The error `result()` rejects with for a failed BullMQ job. */
export function jobFailure(job: Job): DeferralError {
  const remoteStack = job.stacktrace?.at(-1) ?? undefined;
  const remoteCode = codeFromStack(remoteStack);
  return new DeferralError('DEFER_ERR_JOB_FAILED', `Job ${job.id} (${job.name}) failed: ${job.failedReason}`, {
    jobId: job.id, queue: job.queueName, remoteMessage: job.failedReason, remoteStack, remoteCode, attemptsMade: job.attemptsMade,
  });
}

function mapState(state: string): DeferredJobState {
  switch (state) {
    case 'prioritized':
    case 'waiting-children':
    case 'waiting':
      return 'waiting';
    case 'delayed':
    case 'active':
    case 'completed':
    case 'failed':
      return state;
    default:
      return 'unknown';
  }
}

/** The handle of a job in a BullMQ queue. */
export class QueuedJob<R = unknown> implements DeferredJob<R> {
  /** `records`: the data source whose job table has this job's row, when it is recorded. */
  /**
   * `records`: the data source whose job table has this job's row, when it is recorded;
   * `gate`: a push of this process that waits for a transaction to commit.
   */
  constructor(readonly id: string, readonly queue: QueueName, private readonly records?: DataSource, private readonly gate?: CommitGate) {}

  /** True while the job is committed (or about to be) but not in Redis yet. */
  private async pendingRow(): Promise<boolean> {
    if (this.gate?.state === 'waiting') return true;
    if (!this.records?.isInitialized) return false;
    const row = await this.records.manager.findOne(DeferredJobRecord, { where: { id: this.id }, select: { id: true, state: true } });
    return row?.state === 'pending' || row?.state === 'relaying';
  }

  private get bull(): Queue {
    return producerQueue(this.queue);
  }

  private async cancelled(): Promise<boolean> {
    return (await cancelledQueue(producerRedis(), getConfig().prefix, this.id)) !== null;
  }

  /** BullMQ's state, with `cancelled` for a job removed by cancel() or stopped by it while running. */
  private async stateOf(bullState: string): Promise<DeferredJobState> {
    const state = mapState(bullState);
    if ((state === 'unknown' || state === 'failed') && (await this.cancelled())) return 'cancelled';
    if (state === 'unknown' && (await this.pendingRow())) return 'pending';
    return state;
  }

  async state(): Promise<DeferredJobState> {
    return this.stateOf(await this.bull.getJobState(this.id));
  }

  async progress(): Promise<ProgressState> {
    const job = await this.bull.getJob(this.id);
    if (!job) return { percent: 0 };
    const { logs } = await this.bull.getJobLogs(this.id, 0, 0, false);
    const percent = typeof job.progress === 'number' ? job.progress : 0;
    return logs.length ? { percent, message: logs[0] } : { percent };
  }

  async result({ timeoutMs }: { timeoutMs?: number } = {}): Promise<R> {
    const deadline = timeoutMs === undefined ? Infinity : Date.now() + timeoutMs;
    // Polling, rather than QueueEvents, costs no blocking connection and also notices a removed job.
    for (let wait = 20; ; wait = Math.min(wait * 1.5, 500)) {
      const job = await this.bull.getJob(this.id);
      if (!job && (await this.pendingRow())) {
        // Committed but not pushed yet: the push or the relay will bring it.
      } else if (!job) {
        if (await this.cancelled()) throw new DeferralError('DEFER_ERR_CANCELLED', `Job ${this.id} was cancelled before it ran`, { jobId: this.id, queue: this.queue });
        throw new DeferralError('DEFER_ERR_JOB_NOT_FOUND', `Job ${this.id} does not exist on queue ${this.queue} (never created, or removed by retention)`, { jobId: this.id, queue: this.queue });
      }
      if (job?.finishedOn) {
        const state = await this.stateOf(await job.getState());
        if (state === 'completed') return decodeResult(job.returnvalue) as R;
        if (state === 'cancelled') throw new DeferralError('DEFER_ERR_CANCELLED', `Job ${this.id} was cancelled while it ran`, { jobId: this.id, queue: this.queue });
        if (state === 'failed') throw jobFailure(job);
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new DeferralError('DEFER_ERR_TIMEOUT', `Job ${this.id} did not finish within ${timeoutMs} ms`, { jobId: this.id, queue: this.queue, timeoutMs });
      await sleep(Math.min(wait, left));
    }
  }

  async snapshot(): Promise<JobSnapshot<R>> {
    // State first, then the job: a job read after its final state carries its result or error.
    const state = await this.state();
    const job = await this.bull.getJob(this.id);
    if (!job) return { id: this.id, queue: this.queue, state: state === 'cancelled' || state === 'pending' ? state : 'unknown', percent: 0, attemptsMade: 0, attempts: 0 };
    const { logs } = await this.bull.getJobLogs(this.id, 0, 0, false);
    const message = logs[0];
    const at = (ms: number | undefined) => (ms ? new Date(ms) : undefined);
    const snap: JobSnapshot<R> = {
      id: this.id, queue: this.queue, name: job.name, state,
      // A completed job is done whether or not it reported progress.
      percent: state === 'completed' ? 100 : typeof job.progress === 'number' ? job.progress : 0,
      message,
      uid: (job.data as { uid?: string | number } | undefined)?.uid,
      attemptsMade: job.attemptsMade, attempts: job.opts.attempts ?? 1,
      createdAt: at(job.timestamp), runAt: job.delay ? at(job.timestamp + job.delay) : undefined,
      startedAt: at(job.processedOn), finishedAt: at(job.finishedOn),
    };
    if (state === 'completed') snap.result = decodeResult(job.returnvalue) as R;
    if (state === 'failed' || (state === 'cancelled' && job.finishedOn)) {
      const { remoteMessage, remoteStack, remoteCode } = jobFailure(job).details as { remoteMessage: string; remoteStack?: string; remoteCode?: string };
      snap.error = { message: remoteMessage, stack: remoteStack, code: remoteCode };
    }
    return snap;
  }

  async cancel(): Promise<boolean> {
    const job = await this.bull.getJob(this.id);
    if (!job && this.records?.isInitialized) {
      // Not pushed yet: a cancelled row is never pushed, by the caller's commit or by a relay.
      const cancelled = await markRecord(this.records.manager, this.id, { state: 'cancelled', finishedAt: iso() }, ['pending', 'relaying']);
      if (cancelled) await markCancelled(producerRedis(), getConfig().prefix, this.id, this.queue);
      return cancelled;
    }
    if (!job) return false;
    const state = mapState(await job.getState());
    const { prefix } = getConfig();
    const redis = producerRedis();
    if (state === 'active') {
      // The worker running it aborts its signal and races the method: it ends as cancelled, rolled back.
      await requestCancel(redis, prefix, this.id, this.queue);
      return true;
    }
    if (state !== 'waiting' && state !== 'delayed') return false;
    await markCancelled(redis, prefix, this.id, this.queue);
    try {
      await job.remove();
      return true;
    } catch {
      // A worker took the job between the state check and the removal: ask it to stop.
      await requestCancel(redis, prefix, this.id, this.queue);
      return true;
    }
  }
}

/** The handle of a nested call that already ran inline, inside its enclosing job. */
export class InlineJob<R = unknown> implements DeferredJob<R> {
  constructor(readonly id: string, readonly queue: QueueName, private readonly value: R) {}
  async state(): Promise<DeferredJobState> { return 'completed'; }
  async progress(): Promise<ProgressState> { return { percent: 100 }; }
  async result(): Promise<R> { return this.value; }
  async cancel(): Promise<boolean> { return false; }
  async snapshot(): Promise<JobSnapshot<R>> {
    return { id: this.id, queue: this.queue, state: 'completed', percent: 100, result: this.value, attemptsMade: 1, attempts: 1 };
  }
}

/**
 * Finds a job by id alone, whatever its queue; undefined when no queue has it.
 *
 * @example
 * ```ts
 * const job = await getJob(request.params.id); if (job) reply.send(await job.progress())
 * ```
 */
export async function getJob(id: string): Promise<DeferredJob | undefined> {
  if (typeof id !== 'string' || id.length === 0 || id.includes(':')) return undefined;
  const states = await Promise.all(QUEUE_NAMES.map((q) => producerQueue(q).getJobState(id)));
  const index = states.findIndex((s) => s !== 'unknown');
  if (index >= 0) return new QueuedJob(id, QUEUE_NAMES[index]);
  const queue = (await cancelledQueue(producerRedis(), getConfig().prefix, id)) as QueueName | null;
  if (queue && QUEUE_NAMES.includes(queue)) return new QueuedJob(id, queue);
  // Not in Redis: a recorded job whose push has not happened yet still exists.
  for (const ds of Object.values(getConfig().dataSources)) {
    if (!ds.isInitialized || !ds.hasMetadata(DeferredJobRecord)) continue;
    const row = await ds.manager.findOne(DeferredJobRecord, { where: { id }, select: { id: true, queue: true, state: true } });
    if (row && (row.state === 'pending' || row.state === 'relaying')) return new QueuedJob(id, row.queue as QueueName, ds);
  }
  return undefined;
}
