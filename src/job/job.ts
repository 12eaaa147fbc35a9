import type { Job, Queue } from 'bullmq';
import type { DataSource } from 'typeorm';
import type { DeferredJobRecord } from '../../entities/deferred-job-record.js';
import type { CommitGate } from '../outbox/after-commit.js';
import { findRecord, iso, markRecord, recordedResult, type RecordState } from '../outbox/records.js';
import { outsideJobs } from '../outbox/single-connection.js';
import { decodeResult } from '../call/call.js';
import { cancelledQueue, markCancelled, requestCancel } from '../worker/cancel.js';
import { withdrawCancelled } from '../enqueue/push.js';
import { getConfig } from '../config.js';
import { codeFromStack, DeferralError } from '../errors.js';
import { QUEUE_NAMES, type QueueName } from '../options.js';
import type { ProgressState } from '../worker/progress.js';
import { isJobIdShape } from '../limits.js';
import { producerRedis, readyProducerQueue } from '../queues.js';
import { sleep } from '../time.js';

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

// Row states as the handle reports them; queued/delayed/active rows are only read when Redis lacks the job.
const ROW_STATES: Record<string, DeferredJobState> = {
  pending: 'pending', relaying: 'pending', queued: 'waiting', delayed: 'delayed', active: 'active',
  completed: 'completed', failed: 'failed', cancelled: 'cancelled',
};
const FINISHED: ReadonlySet<DeferredJobState> = new Set(['completed', 'failed', 'cancelled']);

/** The error `result()` rejects with for a job that failed, as its row recorded it. */
function recordFailure(row: DeferredJobRecord): DeferralError {
  return new DeferralError('DEFER_ERR_JOB_FAILED', `Job ${row.id} (${row.model}.${row.method}) failed: ${row.error ?? 'unknown error'}`, {
    jobId: row.id, queue: row.queue, remoteMessage: row.error ?? undefined, attemptsMade: row.attempts,
  });
}

/** A snapshot read from the job table, for a job Redis does not have (not pushed yet, or removed by retention). */
function snapshotOfRecord<R>(row: DeferredJobRecord, state: DeferredJobState): JobSnapshot<R> {
  const at = (text: string | null) => (text ? new Date(text) : undefined);
  const snap: JobSnapshot<R> = {
    id: row.id, queue: row.queue as QueueName, name: `${row.model}.${row.method}`, state,
    percent: state === 'completed' ? 100 : row.percent, message: row.message ?? undefined, uid: row.uid,
    attemptsMade: row.attempts, attempts: (JSON.parse(row.jobOptions) as { attempts?: number }).attempts ?? 1,
    createdAt: at(row.createdAt), runAt: at(row.scheduledAt), startedAt: at(row.startedAt), finishedAt: at(row.finishedAt),
  };
  if (state === 'completed') snap.result = decodeResult(recordedResult(row)) as R;
  if (state === 'failed' || (state === 'cancelled' && row.error)) snap.error = { message: row.error ?? 'unknown error' };
  return snap;
}

/** Marks a row cancelled if it is still in one of `from`; never inside a running job's transaction. */
function cancelRecord(dataSource: DataSource, id: string, from: RecordState[]): Promise<boolean> {
  return outsideJobs(dataSource, () => markRecord(dataSource.manager, id, { state: 'cancelled', finishedAt: iso() }, from));
}

/**
 * The handle of a job in a BullMQ queue. Redis is read first; when Redis does not have the
 * job, a recorded job is read from its row (DeferredJobRecord), so a job not pushed yet, or one
 * whose BullMQ job retention removed, still has its state, result and error.
 */
export class QueuedJob<R = unknown> implements DeferredJob<R> {
  /**
   * `records`: the data source whose job table has this job's row, when it is known (else every
   * recording data source is looked at); `gate`: a push of this process that waits for a commit.
   */
  constructor(readonly id: string, readonly queue: QueueName, private readonly records?: DataSource, private readonly gate?: CommitGate) {}

  /** The job's queue, once the producer connection is ready (DEFER_ERR_REDIS_UNAVAILABLE rather than a hang). */
  private async bull(): Promise<Queue> {
    return readyProducerQueue(this.queue);
  }

  private async cancelled(): Promise<boolean> {
    return (await cancelledQueue(producerRedis(), getConfig().prefix, this.id)) !== null;
  }

  /** Where a job stands that Redis does not have, and its row if it is recorded. */
  private async withoutRedis(): Promise<{ state: DeferredJobState; row?: DeferredJobRecord }> {
    if (this.gate?.state === 'waiting') return { state: 'pending' };
    if (await this.cancelled()) return { state: 'cancelled' };
    const row = (await findRecord(this.id, this.records))?.row;
    const state = row ? ROW_STATES[row.state] ?? 'unknown' : 'unknown';
    if (!row || state === 'pending' || FINISHED.has(state)) return { state, row };
    // A row in Redis' hands: pushed between our two reads (Redis has it now), or lost by Redis (unknown).
    return { state: mapState(await (await this.bull()).getJobState(this.id)), row };
  }

  /**
   * The row of this job if it says the job's work committed. With a job table the row is the truth
   * about that: BullMQ can have failed such a job (it ran out of stalls before a worker acknowledged it).
   */
  private async committedRow(): Promise<DeferredJobRecord | undefined> {
    const found = await findRecord(this.id, this.records);
    return found?.row.state === 'completed' ? found.row : undefined;
  }

  /** Where a job BullMQ failed really stands: completed if its work committed, cancelled if cancel() stopped it. */
  private async afterFailure(): Promise<{ state: 'completed'; row: DeferredJobRecord } | { state: 'cancelled' | 'failed' }> {
    const row = await this.committedRow();
    if (row) return { state: 'completed', row };
    return { state: (await this.cancelled()) ? 'cancelled' : 'failed' };
  }

  /** BullMQ's state, corrected by the row and the cancel mark for a failed job, and read from the row for a job Redis lacks. */
  private async stateOf(bullState: string): Promise<DeferredJobState> {
    const state = mapState(bullState);
    if (state === 'failed') return (await this.afterFailure()).state;
    return state === 'unknown' ? (await this.withoutRedis()).state : state;
  }

  async state(): Promise<DeferredJobState> {
    return this.stateOf(await (await this.bull()).getJobState(this.id));
  }

  async progress(): Promise<ProgressState> {
    const bull = await this.bull();
    const job = await bull.getJob(this.id);
    if (!job) {
      const { row } = await this.withoutRedis();
      return row ? { percent: row.state === 'completed' ? 100 : row.percent, ...(row.message ? { message: row.message } : {}) } : { percent: 0 };
    }
    const { logs } = await bull.getJobLogs(this.id, 0, 0, false);
    const percent = typeof job.progress === 'number' ? job.progress : 0;
    return logs.length ? { percent, message: logs[0] } : { percent };
  }

  async result({ timeoutMs }: { timeoutMs?: number } = {}): Promise<R> {
    const deadline = timeoutMs === undefined ? Infinity : Date.now() + timeoutMs;
    // Polling, rather than QueueEvents, costs no blocking connection and also notices a removed job.
    for (let wait = 20; ; wait = Math.min(wait * 1.5, 500)) {
      const job = await (await this.bull()).getJob(this.id);
      if (job?.finishedOn) {
        const state = mapState(await job.getState());
        if (state === 'completed') return decodeResult(job.returnvalue) as R;
        if (state === 'failed') {
          const after = await this.afterFailure();
          if (after.state === 'completed') return decodeResult(recordedResult(after.row)) as R;
          if (after.state === 'cancelled') throw new DeferralError('DEFER_ERR_CANCELLED', `Job ${this.id} was cancelled while it ran`, { jobId: this.id, queue: this.queue });
          throw jobFailure(job);
        }
      } else if (!job) {
        // A push after a commit, without a job table, that Redis did not take: the job is lost, say why.
        if (this.gate?.state === 'failed') throw this.gate.error;
        const { state, row } = await this.withoutRedis();
        if (state === 'completed' && row) return decodeResult(recordedResult(row)) as R;
        if (state === 'failed' && row) throw recordFailure(row);
        if (state === 'cancelled') throw new DeferralError('DEFER_ERR_CANCELLED', `Job ${this.id} was cancelled`, { jobId: this.id, queue: this.queue });
        if (state === 'unknown') throw new DeferralError('DEFER_ERR_JOB_NOT_FOUND', `Job ${this.id} does not exist on queue ${this.queue} (never created, or removed by retention)`, { jobId: this.id, queue: this.queue });
        // Pending: committed but not pushed yet, the push or the relay will bring it.
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new DeferralError('DEFER_ERR_TIMEOUT', `Job ${this.id} did not finish within ${timeoutMs} ms`, { jobId: this.id, queue: this.queue, timeoutMs });
      await sleep(Math.min(wait, left));
    }
  }

  async snapshot(): Promise<JobSnapshot<R>> {
    // State first, then the job: a job read after its final state carries its result or error.
    const bull = await this.bull();
    const bullState = await bull.getJobState(this.id);
    // A failed job is looked at once more (row, cancel mark); its committed row, if any, carries the result.
    const after = bullState === 'failed' ? await this.afterFailure() : undefined;
    const state = after ? after.state : await this.stateOf(bullState);
    const job = await bull.getJob(this.id);
    if (!job) {
      const { state: known, row } = await this.withoutRedis();
      if (row) return snapshotOfRecord(row, known);
      return { id: this.id, queue: this.queue, state: known === 'cancelled' || known === 'pending' ? known : 'unknown', percent: 0, attemptsMade: 0, attempts: 0 };
    }
    const { logs } = await bull.getJobLogs(this.id, 0, 0, false);
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
    if (state === 'completed') snap.result = decodeResult(after?.state === 'completed' ? recordedResult(after.row) : job.returnvalue) as R;
    if (state === 'failed' || (state === 'cancelled' && job.finishedOn)) {
      const { remoteMessage, remoteStack, remoteCode } = jobFailure(job).details as { remoteMessage: string; remoteStack?: string; remoteCode?: string };
      snap.error = { message: remoteMessage, stack: remoteStack, code: remoteCode };
    }
    return snap;
  }

  async cancel(): Promise<boolean> {
    const bull = await this.bull();
    const job = await bull.getJob(this.id);
    const { prefix } = getConfig();
    const redis = producerRedis();
    if (!job) {
      // Not in Redis yet: the row is marked, then Redis, then Redis is looked at again. A push under
      // way reads the mark after it lands (pushRecorded), so one side or the other takes the job back out.
      const found = await findRecord(this.id, this.records);
      const cancelled = found !== undefined && (await cancelRecord(found.dataSource, this.id, ['pending', 'relaying']));
      if (cancelled) {
        await markCancelled(redis, prefix, this.id, this.queue);
        await withdrawCancelled(bull, this.id, this.queue);
      }
      return cancelled;
    }
    const state = mapState(await job.getState());
    if (state === 'active') {
      // The worker running it aborts its signal and races the method: it ends as cancelled, rolled back.
      await requestCancel(redis, prefix, this.id, this.queue);
      return true;
    }
    if (state !== 'waiting' && state !== 'delayed') return false;
    await markCancelled(redis, prefix, this.id, this.queue);
    // A worker took the job between the state check and the removal: it was asked to stop.
    if ((await withdrawCancelled(bull, this.id, this.queue)) === 'running') return true;
    // Removed before it ran: the row, if any, says so too (no worker will).
    const found = await findRecord(this.id, this.records);
    if (found) await cancelRecord(found.dataSource, this.id, ['pending', 'relaying', 'queued', 'delayed']);
    return true;
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
  // An id no job can have is not looked up (a NUL would reach the job table's query as an SQL error).
  if (!isJobIdShape(id)) return undefined;
  const states = await Promise.all(QUEUE_NAMES.map(async (q) => (await readyProducerQueue(q)).getJobState(id)));
  const index = states.findIndex((s) => s !== 'unknown');
  if (index >= 0) return new QueuedJob(id, QUEUE_NAMES[index]);
  const queue = (await cancelledQueue(producerRedis(), getConfig().prefix, id)) as QueueName | null;
  if (queue && QUEUE_NAMES.includes(queue)) return new QueuedJob(id, queue);
  // Not in Redis: a recorded job not pushed yet, or whose BullMQ job retention removed, is in its table.
  const found = await findRecord(id);
  if (found && QUEUE_NAMES.includes(found.row.queue as QueueName)) return new QueuedJob(id, found.row.queue as QueueName, found.dataSource);
  return undefined;
}
