import type { Job } from 'bullmq';
import type { EntityManager } from 'typeorm';
import { DeferredJobRecord } from '../../entities/deferred-job-record.js';
import { encodeResult, type CallPayload, type EncodedResult } from '../call/call.js';
import { AttemptAbort, untilAborted } from './attempt-abort.js';
import type { CancelListener } from './cancel.js';
import { runInJob, type JobContext } from './context.js';
import { DeferralError } from '../errors.js';
import type { PreparedCall } from '../call/invoke.js';
import { storedText } from '../limits.js';
import type { QueueName } from '../options.js';
import type { ProgressReporter } from './progress.js';
import { iso, markRecord, recordedResult, resultFits, storedResult } from '../outbox/records.js';
import { isSingleConnection } from '../outbox/single-connection.js';
import { completeRecordRow } from '../outbox/statements.js';
import { sleep } from '../time.js';
import { isTransientDbError, TRANSIENT_RETRIES } from './transient.js';

/** Why a job was aborted when the worker shut down past its grace period: it goes back to the queue. */
export class ShutdownAbort extends Error {
  constructor() {
    super('The worker shut down while the job ran; the job goes back to the queue');
  }
}

/** One attempt of one job, as the worker hands it over. */
export interface Attempt {
  job: Job;
  queue: QueueName;
  prepared: PreparedCall;
  opts: CallPayload['opts'];
  reporter: ProgressReporter;
  /** The data source has the job table. */
  records: boolean;
}

/** What attempts share in one worker: the cancel listener, and the controllers of running attempts (to abort on shutdown). */
export interface AttemptScope {
  cancels: CancelListener;
  active: Set<AttemptAbort>;
}

/**
 * What the row says before the method runs: the stored result of a job already completed (a
 * repeated delivery), or DEFER_ERR_CANCELLED for a job cancelled while its push was under way.
 * `lock` makes a concurrent delivery wait here until the first one commits or rolls back.
 */
export async function recordedOutcome(manager: EntityManager, id: string, queue: QueueName, lock: boolean): Promise<EncodedResult | undefined> {
  const row = await manager.findOne(DeferredJobRecord, { where: { id }, select: { id: true, state: true, result: true }, ...(lock ? { lock: { mode: 'pessimistic_write' as const } } : {}) });
  if (row?.state === 'cancelled') throw new DeferralError('DEFER_ERR_CANCELLED', `Job ${id} was cancelled (its row says so): it does not run, or its work is rolled back`, { jobId: id, queue });
  return row?.state === 'completed' ? recordedResult(row) ?? encodeResult(undefined) : undefined;
}

/** A delivery whose row says its work already committed: its transaction rolls back and the stored result is the answer. */
class AlreadyCompleted extends Error {
  constructor(readonly result: EncodedResult) {
    super('already completed');
  }
}

/**
 * True when nothing can have completed this job's row yet: its first start, in a transaction. Such
 * a delivery runs without reading the row first; the conditional UPDATE that completes the row
 * tells it (and rolls it back) if a twin delivery got there first. A retry, a job taken back from
 * a dead worker, or a call without a transaction reads the row before the method runs.
 */
const firstDelivery = (a: Attempt) => a.opts.transaction && a.job.attemptsStarted <= 1 && a.job.attemptsMade === 0 && !a.job.stalledCounter;

/**
 * Completes the row in the job's transaction, unless it is completed or cancelled already (one
 * conditional UPDATE: it also takes the row's lock). When no row was updated, the row is read: a
 * completed one rolls the attempt back (AlreadyCompleted), a cancelled one fails it, and a row
 * that is gone (deleted by hand) lets the work commit.
 */
async function completeRecord(a: Attempt, manager: EntityManager, encoded: EncodedResult, startedAt: number): Promise<void> {
  const { job, queue, prepared, reporter } = a;
  const result = storedResult(encoded);
  if (!resultFits(prepared.dataSource, result)) {
    throw new DeferralError('DEFER_ERR_PAYLOAD_TOO_LARGE', `Job ${job.id} (${job.name}): the result is ${Buffer.byteLength(result)} bytes as JSON, more than the job table's result column holds`, { jobId: job.id });
  }
  const fields = { result, message: storedText(reporter.current.message ?? null), attempts: job.attemptsMade + 1, startedAt: iso(startedAt), finishedAt: iso() };
  const updated = await completeRecordRow(manager, job.id!, fields)
    ?? await markRecord(manager, job.id!, { ...fields, state: 'completed', percent: 100, error: null });
  if (updated) return;
  // A locking read: on MariaDB a plain SELECT would read the transaction's older snapshot, not the twin's commit.
  const done = await recordedOutcome(manager, job.id!, queue, !isSingleConnection(prepared.dataSource));
  if (done) throw new AlreadyCompleted(done);
}

/** Runs the call on `manager` and, with a job table, completes the row in the same transaction. */
async function execute(a: Attempt, manager: EntityManager, abort: AttemptAbort): Promise<EncodedResult> {
  const { job, queue, prepared, reporter, records } = a;
  const startedAt = Date.now();
  if (records && !firstDelivery(a)) {
    // A job delivered again (after a crash, a retry) whose row says completed: acknowledge, do not re-run.
    const done = await recordedOutcome(manager, job.id!, queue, a.opts.transaction && !isSingleConnection(prepared.dataSource));
    if (done) return done;
  }
  // Cancelled or timed out while the transaction began: the method does not start.
  if (abort.aborted) throw abort.why;
  const ctx: JobContext = {
    id: job.id!, queue, uid: prepared.info.uid, attempt: job.attemptsMade + 1, manager, dataSource: prepared.dataSource,
    get signal() { return abort.signal; },
    reportProgress: (report) => reporter.report(report),
    log: (line) => void job.log(String(line)).catch(() => undefined),
  };
  // The result is encoded inside the transaction: one that cannot be stored rolls the work back.
  const encoded = encodeResult(await runInJob(ctx, () => prepared.run(manager)));
  // The row is completed in the same transaction as the method's writes: both commit, or neither.
  if (records) await completeRecord(a, manager, encoded, startedAt);
  return encoded;
}

/**
 * Runs one attempt: in a transaction (unless the call said `transaction: false`), re-run a few
 * times after a transient database error, bounded by the job's timeout and open to cancel.
 */
export async function runAttempt(a: Attempt, scope: AttemptScope): Promise<EncodedResult> {
  const { job, queue, prepared, opts } = a;
  const { dataSource } = prepared;
  const abort = new AttemptAbort();
  scope.active.add(abort);
  const untrack = scope.cancels.track(job.id!, () => abort.abort(
    new DeferralError('DEFER_ERR_CANCELLED', `Job ${job.id} was cancelled while it ran`, { jobId: job.id, queue })));
  const timer = opts.timeout === undefined ? undefined : setTimeout(() => abort.abort(
    new DeferralError('DEFER_ERR_TIMEOUT', `Job ${job.id} ran longer than its timeout of ${opts.timeout} ms`, { jobId: job.id, timeoutMs: opts.timeout })), opts.timeout);
  const once = (manager: EntityManager) => untilAborted(execute(a, manager, abort), abort);
  try {
    for (let retry = 0; ; retry++) {
      try {
        return await (opts.transaction ? dataSource.transaction(once) : once(dataSource.manager));
      } catch (err) {
        if (err instanceof AlreadyCompleted) return err.result;
        if (retry >= TRANSIENT_RETRIES || !isTransientDbError(err) || abort.aborted) throw err;
        await sleep(25 * 2 ** retry + Math.random() * 25);
      }
    }
  } finally {
    clearTimeout(timer);
    untrack();
    scope.active.delete(abort);
  }
}
