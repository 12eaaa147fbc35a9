import { LessThan, type DataSource } from 'typeorm';
import { DeferredJobRecord } from '../entities/deferred-job-record.js';
import { PAYLOAD_VERSION, type EncodedResult } from './call.js';
import { cancelledQueue } from './cancel.js';
import { getConfig } from './config.js';
import { QUEUE_NAMES, type QueueName } from './options.js';
import { producerQueue, producerRedis } from './queues.js';
import { iso, markRecord, storedResult } from './records.js';

/**
 * Brings `active` rows in line with BullMQ where no worker could: a job BullMQ failed without
 * running it again (it stalled more often than allowed, its worker having died), or one whose
 * final row update was lost (the database was unreachable when the attempt ended).
 * Only rows active for longer than `olderThanMs` are checked, one Redis read each.
 * Returns how many rows it finished.
 */
export async function reconcileRecords(dataSource: DataSource, { olderThanMs = 60_000, limit = 100 } = {}): Promise<number> {
  const rows = await dataSource.getRepository(DeferredJobRecord).find({
    where: { state: 'active', startedAt: LessThan(iso(Date.now() - olderThanMs)) },
    select: { id: true, queue: true },
    order: { startedAt: 'ASC' },
    take: limit,
  });
  let finished = 0;
  for (const { id, queue } of rows) {
    if (!QUEUE_NAMES.includes(queue as QueueName)) continue;
    const bull = producerQueue(queue as QueueName);
    const state = await bull.getJobState(id);
    if (state !== 'failed' && state !== 'completed') continue;
    const job = await bull.getJob(id);
    if (!job) continue;
    const finishedAt = iso(job.finishedOn ?? Date.now());
    let changes: Partial<DeferredJobRecord>;
    if (state === 'completed') {
      const stored = job.returnvalue as EncodedResult | undefined;
      changes = { state: 'completed', percent: 100, finishedAt, result: stored?.v === PAYLOAD_VERSION ? storedResult(stored) : null };
    } else {
      const cancelled = (await cancelledQueue(producerRedis(), getConfig().prefix, id)) !== null;
      changes = { state: cancelled ? 'cancelled' : 'failed', error: job.failedReason ?? null, finishedAt };
    }
    if (await markRecord(dataSource.manager, id, changes, ['active'])) finished++;
  }
  return finished;
}
