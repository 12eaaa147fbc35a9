import type { ChainableCommander } from 'ioredis';
import type { DataSource } from 'typeorm';
import { DeferredJobRecord } from '../../entities/deferred-job-record.js';
import { PAYLOAD_VERSION, type EncodedResult } from '../call/call.js';
import { cancelledQueue } from '../worker/cancel.js';
import { getConfig } from '../config.js';
import { storedText } from '../limits.js';
import { QUEUE_NAMES, type QueueName } from '../options.js';
import { pipelinedReads, producerQueue, producerRedis } from '../queues.js';
import { iso, markRecord, storedResult, type RecordState } from './records.js';

/** Row states that BullMQ may have moved past without the row hearing of it (the query below names them too). */
const UNFINISHED: RecordState[] = ['queued', 'delayed', 'active'];

// Where the last round stopped, per data source: rounds walk all unfinished rows, `limit` at a time.
const cursors = new WeakMap<DataSource, { createdAt: string; id: string }>();

/** The rows to check this round, after the cursor, oldest first; the cursor moves on (or starts over). */
async function nextRows(dataSource: DataSource, olderThanMs: number, limit: number): Promise<Array<Pick<DeferredJobRecord, 'id' | 'queue' | 'createdAt'>>> {
  const qb = dataSource.getRepository(DeferredJobRecord).createQueryBuilder('j')
    .select(['j.id', 'j.queue', 'j.createdAt'])
    // Left alone for `olderThanMs` since the last thing that happened to them: queued, or started.
    .where(`((j.state = 'active' AND j.startedAt < :before) OR (j.state IN ('queued', 'delayed') AND j.createdAt < :before))`, { before: iso(Date.now() - olderThanMs) });
  const after = cursors.get(dataSource);
  if (after) qb.andWhere('(j.createdAt > :at OR (j.createdAt = :at AND j.id > :id))', { at: after.createdAt, id: after.id });
  const rows = await qb.orderBy('j.createdAt', 'ASC').addOrderBy('j.id', 'ASC').take(limit).getMany();
  const last = rows.at(-1);
  if (rows.length < limit || !last) cursors.delete(dataSource);
  else cursors.set(dataSource, { createdAt: last.createdAt, id: last.id });
  return rows;
}

/** What the row of a job BullMQ finished should say, read from BullMQ; undefined when BullMQ has not finished it. */
async function finalChanges(id: string, queue: QueueName): Promise<Partial<DeferredJobRecord> | undefined> {
  const bull = producerQueue(queue);
  const state = await bull.getJobState(id);
  if (state !== 'failed' && state !== 'completed') return undefined;
  const job = await bull.getJob(id);
  if (!job) return undefined;
  const finishedAt = iso(job.finishedOn ?? Date.now());
  if (state === 'completed') {
    const stored = job.returnvalue as EncodedResult | undefined;
    return { state: 'completed', percent: 100, finishedAt, result: stored?.v === PAYLOAD_VERSION ? storedResult(stored) : null };
  }
  const cancelled = (await cancelledQueue(producerRedis(), getConfig().prefix, id)) !== null;
  return { state: cancelled ? 'cancelled' : 'failed', error: storedText(job.failedReason ?? null), finishedAt };
}

/**
 * Brings rows in line with BullMQ where no worker could: a row left `queued`, `delayed` or `active`
 * whose BullMQ job has finished, because the row's last update was lost (the database was
 * unreachable when the attempt ended, the process was killed) or because the job failed before a
 * worker could record it (a payload it could not read). Each round checks the next `limit` rows
 * older than `olderThanMs`, one Redis read each (two more for a finished job), and the rounds
 * walk all such rows in turn. Returns how many rows it finished.
 */
export async function reconcileRecords(dataSource: DataSource, { olderThanMs = 60_000, limit = 100 } = {}): Promise<number> {
  const rows = (await nextRows(dataSource, olderThanMs, limit)).filter((r) => QUEUE_NAMES.includes(r.queue as QueueName));
  if (rows.length === 0) return 0;
  const { queuePrefixes } = getConfig();
  const finishedOn = await pipelinedReads(producerRedis(), rows.map(({ id, queue }) => ({
    prefix: queuePrefixes[queue as QueueName],
    add: (p: ChainableCommander) => p.hget(producerQueue(queue as QueueName).toKey(id), 'finishedOn'),
  })));
  let finished = 0;
  for (const [i, { id, queue }] of rows.entries()) {
    if (!finishedOn[i]?.[1]) continue;
    const changes = await finalChanges(id, queue as QueueName);
    if (changes && (await markRecord(dataSource.manager, id, changes, UNFINISHED))) finished++;
  }
  return finished;
}
