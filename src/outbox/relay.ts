import { IsNull, LessThan, type DataSource } from 'typeorm';
import { DeferredJobRecord } from '../../entities/deferred-job-record.js';
import type { CallPayload } from '../call/call.js';
import { pushRecorded } from '../enqueue/push.js';
import { iso, markRecord, recordingSources, recordsEnabled, type StoredJobOptions } from './records.js';

/** Options of {@link relayPendingJobs} and of `startWorker({ relay })`. */
export interface RelayOptions {
  /** Rows younger than this are left to the push that follows their commit. @defaultValue `5000` */
  olderThanMs?: number;
  /**
   * A claim older than this (a relay that died mid-push) may be taken over. On a worker's rounds,
   * also how long a row may say `active` before it is checked against BullMQ (a job failed
   * after its worker died). @defaultValue `60000`
   */
  leaseMs?: number;
  /** Rows per data source and round. @defaultValue `500` */
  limit?: number;
  /** Only this data source. @defaultValue every configured data source that records jobs */
  dataSource?: DataSource;
}

/**
 * Pushes to Redis the recorded jobs that never got there (the process died after the commit,
 * or Redis was down). Safe with any number of relays at once: each row is claimed by one
 * conditional UPDATE, and a job pushed twice is still one job (its id is the row's).
 * Workers run it every few seconds; returns how many jobs this call pushed.
 *
 * @example
 * ```ts
 * await relayPendingJobs({ olderThanMs: 0 })   // e.g. from a maintenance script
 * ```
 */
export async function relayPendingJobs(options: RelayOptions = {}): Promise<number> {
  const { olderThanMs = 5_000, leaseMs = 60_000, limit = 500 } = options;
  const sources = options.dataSource ? [options.dataSource] : recordingSources();
  let pushed = 0;
  for (const ds of sources) {
    if (!ds.isInitialized || !recordsEnabled(ds)) continue;
    const repo = ds.getRepository(DeferredJobRecord);
    const rows = await repo.find({
      where: [
        { state: 'pending', createdAt: LessThan(iso(Date.now() - olderThanMs)) },
        { state: 'relaying', relayedAt: LessThan(iso(Date.now() - leaseMs)) },
      ],
      order: { createdAt: 'ASC' },
      take: limit,
    });
    for (const row of rows) {
      // The claim: only one relay's UPDATE finds the row in the state it read.
      const claim = await repo.update(
        { id: row.id, state: row.state, relayedAt: row.relayedAt === null ? IsNull() : row.relayedAt },
        { state: 'relaying', relayedAt: iso() },
      );
      if ((claim.affected ?? 0) !== 1) continue;
      try {
        await pushRecorded(ds, row.id, JSON.parse(row.payload) as CallPayload, JSON.parse(row.jobOptions) as StoredJobOptions);
        pushed++;
      } catch {
        // Redis still down: give the row back for the next round.
        await markRecord(ds.manager, row.id, { state: 'pending', relayedAt: null }, ['relaying']).catch(() => false);
      }
    }
  }
  return pushed;
}
