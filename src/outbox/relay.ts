import type { ChainableCommander } from 'ioredis';
import { In, IsNull, LessThan, type DataSource } from 'typeorm';
import { DeferredJobRecord } from '../../entities/deferred-job-record.js';
import type { CallPayload } from '../call/call.js';
import { getConfig } from '../config.js';
import { pushRecorded } from '../enqueue/push.js';
import { QUEUE_NAMES, type QueueName } from '../options.js';
import { pipelinedReads, producerQueue, producerRedis } from '../queues.js';
import { cancelKey } from '../worker/cancel.js';
import { iso, markRecord, recordingSources, recordsEnabled, type StoredJobOptions } from './records.js';

/** Options of {@link relayPendingJobs} and of `startWorker({ relay })`. */
export interface RelayOptions {
  /** Rows younger than this are left to the push that follows their commit. @defaultValue `5000` */
  olderThanMs?: number;
  /**
   * A claim older than this (a relay that died mid-push) may be taken over. On a worker's rounds,
   * also how long a row may wait before it is checked against BullMQ (a job failed after its
   * worker died). @defaultValue `60000`
   */
  leaseMs?: number;
  /** Rows per data source and round. @defaultValue `500` */
  limit?: number;
  /** Only this data source. @defaultValue every configured data source that records jobs */
  dataSource?: DataSource;
}

const DEFAULT_LIMIT = 500;
// Batches per data source and round: up to 10,000 rows a round with the default limit.
const MAX_BATCHES = 20;

type Candidate = Pick<DeferredJobRecord, 'id' | 'queue' | 'state' | 'relayedAt' | 'scheduledAt'>;

/** Where each row's job stands in Redis: there, cancelled (a cancel mark and no job), or missing. */
async function inRedis(rows: Candidate[]): Promise<Array<'there' | 'cancelled' | 'missing'>> {
  const { prefix, queuePrefixes } = getConfig();
  // The job keys lie under their queue's prefix and the cancel marks under `prefix`: on a cluster, one pipeline each.
  const replies = await pipelinedReads(producerRedis(), rows.flatMap(({ id, queue }) => [
    { prefix: queuePrefixes[queue as QueueName], add: (p: ChainableCommander) => p.exists(producerQueue(queue as QueueName).toKey(id)) },
    { prefix, add: (p: ChainableCommander) => p.exists(cancelKey(prefix, id)) },
  ]));
  return rows.map((_, i) => {
    const [job, mark] = [replies[2 * i], replies[2 * i + 1]];
    if (job?.[0] || mark?.[0]) throw job?.[0] ?? mark?.[0];
    return job?.[1] ? 'there' : mark?.[1] ? 'cancelled' : 'missing';
  });
}

/** Rows whose job is in Redis stop being `pending`: `queued`, or `delayed` when they run later. */
async function markInRedis(ds: DataSource, rows: Candidate[]): Promise<void> {
  const now = iso();
  for (const delayed of [false, true]) {
    const ids = rows.filter((r) => (r.scheduledAt !== null && r.scheduledAt > now) === delayed).map((r) => r.id);
    if (ids.length) await ds.getRepository(DeferredJobRecord).update({ id: In(ids), state: In(['pending', 'relaying']) }, { state: delayed ? 'delayed' : 'queued', relayedAt: null });
  }
}

/** Claims a row (only one relay's conditional UPDATE finds it in the state it read), pushes it, and marks it queued. */
async function relayRow(ds: DataSource, row: Candidate): Promise<boolean> {
  const repo = ds.getRepository(DeferredJobRecord);
  const claim = await repo.update(
    { id: row.id, state: row.state, relayedAt: row.relayedAt === null ? IsNull() : row.relayedAt },
    { state: 'relaying', relayedAt: iso() },
  );
  if ((claim.affected ?? 0) !== 1) return false;
  const full = await repo.findOne({ where: { id: row.id }, select: { id: true, payload: true, jobOptions: true } });
  if (!full) return false;
  const options = JSON.parse(full.jobOptions) as StoredJobOptions;
  try {
    await pushRecorded(ds, row.id, JSON.parse(full.payload) as CallPayload, options);
  } catch {
    // Redis still down: give the row back for the next round.
    await markRecord(ds.manager, row.id, { state: 'pending', relayedAt: null }, ['relaying']).catch(() => false);
    return false;
  }
  await markRecord(ds.manager, row.id, { state: options.runAt > Date.now() ? 'delayed' : 'queued', relayedAt: null }, ['relaying']);
  return true;
}

/**
 * Pushes to Redis the recorded jobs that never got there (the process died after the commit,
 * or Redis was down). A row stays `pending` after its push (the enqueue writes nothing more), so
 * each round looks in Redis for the rows older than `olderThanMs`: those there become `queued`
 * (or `delayed`), those cancelled meanwhile `cancelled`, and the missing ones are pushed. Safe with
 * any number of relays at once: each push is claimed by one conditional UPDATE, and a job pushed
 * twice is still one job (its id is the row's). Workers run it every few seconds; returns how
 * many jobs this call pushed.
 *
 * @example
 * ```ts
 * await relayPendingJobs({ olderThanMs: 0 })   // e.g. from a maintenance script
 * ```
 */
export async function relayPendingJobs(options: RelayOptions = {}): Promise<number> {
  const sources = options.dataSource ? [options.dataSource] : recordingSources();
  let pushed = 0;
  for (const ds of sources) {
    if (!ds.isInitialized || !recordsEnabled(ds)) continue;
    // Batch after batch while whole batches are settled: a backlog waiting in Redis is confirmed
    // as fast as it is enqueued, up to MAX_BATCHES × limit rows per round.
    for (let batch = 0; batch < MAX_BATCHES; batch++) {
      const { rows, settled, pushed: n } = await relayBatch(ds, options);
      pushed += n;
      if (rows < (options.limit ?? DEFAULT_LIMIT) || settled + n < rows) break;
    }
  }
  return pushed;
}

/** One batch of the oldest rows not known to be in Redis: how many there were, how many it found in Redis or cancelled, and how many it pushed. */
async function relayBatch(ds: DataSource, { olderThanMs = 5_000, leaseMs = 60_000, limit = DEFAULT_LIMIT }: RelayOptions): Promise<{ rows: number; settled: number; pushed: number }> {
  const rows = (await ds.getRepository(DeferredJobRecord).find({
    select: { id: true, queue: true, state: true, relayedAt: true, scheduledAt: true },
    where: [
      { state: 'pending', createdAt: LessThan(iso(Date.now() - olderThanMs)) },
      { state: 'relaying', relayedAt: LessThan(iso(Date.now() - leaseMs)) },
    ],
    order: { createdAt: 'ASC' },
    take: limit,
  })).filter((r) => QUEUE_NAMES.includes(r.queue as QueueName));
  if (rows.length === 0) return { rows: 0, settled: 0, pushed: 0 };
  const where = await inRedis(rows);
  const there = rows.filter((_, i) => where[i] === 'there');
  await markInRedis(ds, there);
  const cancelled = rows.filter((_, i) => where[i] === 'cancelled').map((r) => r.id);
  if (cancelled.length) await ds.getRepository(DeferredJobRecord).update({ id: In(cancelled), state: In(['pending', 'relaying']) }, { state: 'cancelled', finishedAt: iso() });
  let pushed = 0;
  for (const row of rows.filter((_, i) => where[i] === 'missing')) if (await relayRow(ds, row)) pushed++;
  return { rows: rows.length, settled: there.length + cancelled.length, pushed };
}
