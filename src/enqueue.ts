import type { DataSource } from 'typeorm';
import { DeferredJobRecord } from '../entities/deferred-job-record.js';
import type { CallPayload } from './call.js';
import { jobName } from './invoke.js';
import { producerQueue } from './queues.js';
import { markRecord, type StoredJobOptions } from './records.js';

/** Puts a job on its BullMQ queue; the same id twice is one job (BullMQ ignores the second add). */
export async function pushJob(id: string, payload: CallPayload, o: StoredJobOptions): Promise<void> {
  await producerQueue(o.queue).add(jobName(payload), payload, {
    jobId: id,
    delay: Math.max(0, o.runAt - Date.now()),
    priority: o.priority,
    attempts: o.attempts,
    backoff: o.backoff as never,
    removeOnComplete: o.removeOnComplete as never,
    removeOnFail: o.removeOnFail as never,
  });
}

/** Pushes a recorded job, then marks its row queued or delayed (unless a worker got there first). */
export async function pushRecorded(dataSource: DataSource, id: string, payload: CallPayload, o: StoredJobOptions): Promise<void> {
  const row = await dataSource.manager.findOne(DeferredJobRecord, { where: { id }, select: { id: true, state: true } });
  if (row?.state === 'cancelled') return;
  await pushJob(id, payload, o);
  await markRecord(dataSource.manager, id, { state: o.runAt > Date.now() ? 'delayed' : 'queued', relayedAt: null }, ['pending', 'relaying']);
}
