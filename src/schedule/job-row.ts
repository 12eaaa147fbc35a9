import type { Job } from 'bullmq';
import type { DataSource } from 'typeorm';
import type { CallPayload } from '../call/call.js';
import type { QueueName } from '../options.js';
import { iso, newRecord } from '../outbox/records.js';
import { insertRecord } from '../outbox/statements.js';

/**
 * Gives a schedule's job its row in the job table when its first attempt starts: BullMQ made the
 * job, not `Deferred()`, so no row was written at enqueue. An INSERT that ignores a row already
 * there (a retry, a job taken back from a dead worker); the attempt then completes it as any other.
 */
export async function recordScheduledJob(dataSource: DataSource, job: Job, payload: CallPayload, queue: QueueName): Promise<void> {
  const o = job.opts;
  const row = newRecord(job.id!, payload, {
    queue, runAt: job.timestamp + (o.delay ?? 0), attempts: o.attempts ?? 1, priority: o.priority,
    backoff: o.backoff, removeOnComplete: o.removeOnComplete, removeOnFail: o.removeOnFail,
  });
  row.state = 'active';
  row.startedAt = iso(job.processedOn ?? Date.now());
  await insertRecord(dataSource.manager, row);
}
