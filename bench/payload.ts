import { DEFAULT_RETENTION } from '../src/options.js';
import type { BenchItem } from './entities.js';

export const UID = 42;
export const JOB_NAME = 'BenchItem.noop';
export const QUEUE = 'default';

/**
 * What raw BullMQ enqueues: a plain object of the same shape and size as the
 * job data Deferred() writes for `Deferred(record, db, UID, 'noop')`, built per call.
 */
export function rawPayload(record: BenchItem) {
  return {
    v: 1,
    ds: 'main',
    target: { kind: 'records', entity: 'BenchItem', ids: [{ id: record.id }], many: false },
    method: 'noop',
    uid: UID,
    args: { json: [] as unknown[] },
    opts: { transaction: true, skipMissing: false },
  };
}

/**
 * The job options of the raw side: the same attempts and retention Deferred()
 * gives its jobs by default, so both sides make BullMQ do the same bookkeeping.
 */
export const RAW_JOB_OPTIONS = {
  attempts: 1,
  removeOnComplete: DEFAULT_RETENTION.removeOnComplete,
  removeOnFail: DEFAULT_RETENTION.removeOnFail,
};
