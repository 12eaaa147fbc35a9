import type { DataSource } from 'typeorm';
import type { CallPayload } from '../call/call.js';
import { jobName } from '../call/invoke.js';
import { callLabel, deferredMetrics } from '../observe/metrics.js';
import { readyProducerQueue } from '../queues.js';
import { DeferralError } from '../errors.js';
import { markRecord, type StoredJobOptions } from '../outbox/records.js';
import { outsideJobs } from '../outbox/single-connection.js';

/**
 * Puts a job on its BullMQ queue; the same id twice is one job (BullMQ ignores the second add).
 * Fails with DEFER_ERR_REDIS_UNAVAILABLE when Redis does not take it (down, or refusing writes).
 */
export async function pushJob(id: string, payload: CallPayload, o: StoredJobOptions): Promise<void> {
  const queue = await readyProducerQueue(o.queue);
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
    throw new DeferralError('DEFER_ERR_REDIS_UNAVAILABLE', `Redis did not take job ${id}: ${err instanceof Error ? err.message : String(err)}`, { jobId: id, queue: o.queue }, { cause: err });
  }
  // Counting never fails a push that Redis took (closeDeferred() may have run meanwhile).
  await deferredMetrics().then((m) => m?.enqueued.inc({ queue: o.queue, call: callLabel(jobName(payload)) }), () => undefined);
}

/**
 * Pushes a recorded job, then marks its row queued or delayed (unless a worker got there first).
 * No read of the row first: a row cancelled meanwhile is refused by the worker, which reads it anyway.
 */
export async function pushRecorded(dataSource: DataSource, id: string, payload: CallPayload, o: StoredJobOptions): Promise<void> {
  await pushJob(id, payload, o);
  await outsideJobs(dataSource, () => markRecord(dataSource.manager, id, { state: o.runAt > Date.now() ? 'delayed' : 'queued', relayedAt: null }, ['pending', 'relaying']));
}
