import type { DataSource } from 'typeorm';
import type { CallPayload } from '../call/call.js';
import { jobName } from '../call/invoke.js';
import { callLabel, deferredMetrics, deferredMetricsNow, type DeferredMetrics } from '../observe/metrics.js';
import type { Queue } from 'bullmq';
import { clusterNodeError, producerQueue, producerRedis, readyProducerQueue } from '../queues.js';
import { getConfig } from '../config.js';
import { cancelledQueue, requestCancel } from '../worker/cancel.js';
import { DeferralError } from '../errors.js';
import { iso, markRecord, type StoredJobOptions } from '../outbox/records.js';
import { outsideJobs } from '../outbox/single-connection.js';

/**
 * Puts a job on its BullMQ queue; the same id twice is one job (BullMQ ignores the second add).
 * Fails with DEFER_ERR_REDIS_UNAVAILABLE when Redis does not take it (down, or refusing writes).
 */
export async function pushJob(id: string, payload: CallPayload, o: StoredJobOptions): Promise<void> {
  // No wait (and no extra promise) when the connection is up, as it nearly always is.
  const queue = producerRedis().status === 'ready' ? producerQueue(o.queue) : await readyProducerQueue(o.queue);
  try {
    await queue.add(jobName(payload), payload, {
      jobId: id,
      delay: Math.max(0, o.runAt - Date.now()),
      priority: o.priority,
      attempts: o.attempts,
      backoff: o.backoff as never,
      removeOnComplete: o.removeOnComplete as never,
      removeOnFail: o.removeOnFail as never,
    });
  } catch (err) {
    throw clusterNodeError(err) ?? new DeferralError('DEFER_ERR_REDIS_UNAVAILABLE', `Redis did not take job ${id}: ${err instanceof Error ? err.message : String(err)}`, { jobId: id, queue: o.queue }, { cause: err });
  }
  // Counting never fails a push that Redis took (closeDeferred() may have run meanwhile).
  try {
    const now = deferredMetricsNow();
    const count = (m: DeferredMetrics | undefined) => m?.enqueued.inc({ queue: o.queue, call: callLabel(jobName(payload)) });
    if (now === 'loading') await deferredMetrics().then(count, () => undefined);
    else count(now);
  } catch {
    // Not configured any more, or a registry that refuses: the job is in Redis all the same.
  }
}

/**
 * Pushes a recorded job; its row is not written (it stays `pending` until the job completes, or a
 * relay round finds it in Redis). Then the job's cancel mark is read: a cancel() that found no job
 * in Redis marks the row and Redis before it looks in Redis again, and this push lands before or
 * after that second look, so one of the two sees the other and the job is taken back out.
 */
export async function pushRecorded(dataSource: DataSource, id: string, payload: CallPayload, o: StoredJobOptions): Promise<void> {
  await pushJob(id, payload, o);
  const { prefix } = getConfig();
  if ((await cancelledQueue(producerRedis(), prefix, id)) === null) return;
  await withdrawCancelled(producerQueue(o.queue), id, o.queue);
  await outsideJobs(dataSource, () => markRecord(dataSource.manager, id, { state: 'cancelled', finishedAt: iso() }, ['pending', 'relaying', 'queued', 'delayed']));
}

/** Removes a cancelled job that has not finished from its queue or, when a worker already took it, asks that worker to abort it. */
export async function withdrawCancelled(queue: Queue, id: string, name: string): Promise<'removed' | 'running' | 'absent'> {
  const job = await queue.getJob(id);
  // A job that ran to its end is left as it is: its outcome stands.
  if (!job || job.finishedOn) return 'absent';
  try {
    await job.remove();
    return 'removed';
  } catch {
    // Locked: a worker is running it.
    await requestCancel(producerRedis(), getConfig().prefix, id, name);
    return 'running';
  }
}
