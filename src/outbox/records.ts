import { In, LessThan, MoreThanOrEqual, type DataSource, type EntityManager, type FindOptionsWhere, type ObjectLiteral } from 'typeorm';
import { DeferredJobRecord } from '../../entities/deferred-job-record.js';
import { PAYLOAD_VERSION, targetName, type CallPayload, type EncodedResult, type IdMap } from '../call/call.js';
import { getConfig } from '../config.js';
import { DeferralError } from '../errors.js';
import { MAX_RECORD_KEYS_LENGTH, MYSQL_TEXT_BYTES } from '../limits.js';
import type { QueueName } from '../options.js';
import { outsideJobs } from './single-connection.js';

/** The BullMQ options a row keeps, so a relay can push it later exactly as the caller asked. */
export interface StoredJobOptions {
  queue: QueueName;
  /** When the job may run (epoch ms); the delay is computed at push time. */
  runAt: number;
  attempts: number;
  priority?: number;
  backoff?: unknown;
  removeOnComplete?: unknown;
  removeOnFail?: unknown;
}

/** Row states. `pending`: committed, not yet in Redis; `relaying`: a relay is pushing it. */
export type RecordState = 'pending' | 'relaying' | 'queued' | 'delayed' | 'active' | 'completed' | 'failed' | 'cancelled';

export const iso = (ms = Date.now()) => new Date(ms).toISOString();

/** True when the data source has the job table (DeferredJobRecord among its entities). */
export function recordsEnabled(dataSource: DataSource): boolean {
  return dataSource.hasMetadata(DeferredJobRecord);
}

const keyOf = (id: IdMap) => {
  const values = Object.values(id);
  return values.length === 1 ? String(values[0]) : JSON.stringify(id);
};

/** The bytes a text column of the job table holds on this data source: `text` is 64 KiB on MySQL/MariaDB. */
function textCapacity(dataSource: DataSource): number {
  return ['mysql', 'mariadb', 'aurora-mysql'].includes(dataSource.options.type) ? MYSQL_TEXT_BYTES : Infinity;
}

/** True when an encoded result fits the job table's result column. */
export function resultFits(dataSource: DataSource, text: string): boolean {
  return Buffer.byteLength(text) <= textCapacity(dataSource);
}

/**
 * Refuses, with DEFER_ERR_PAYLOAD_TOO_LARGE, a payload (its JSON) larger than `configure({ maxPayloadBytes })`
 * or, with a job table, than the column that keeps it.
 */
export function checkPayloadSize(json: string, dataSource: DataSource, maxPayloadBytes: number): void {
  const limit = Math.min(maxPayloadBytes, recordsEnabled(dataSource) ? textCapacity(dataSource) : Infinity);
  // Cheap first: a UTF-8 byte is at least one UTF-16 unit and at most three.
  if (json.length * 3 <= limit) return;
  const bytes = Buffer.byteLength(json);
  if (bytes > limit) {
    throw new DeferralError('DEFER_ERR_PAYLOAD_TOO_LARGE', `The call is ${bytes} bytes once encoded, more than the limit of ${limit}${limit < maxPayloadBytes ? ' (the job table\'s payload column)' : ' (configure({ maxPayloadBytes }))'}: pass ids and let the method load the data`, { bytes, limit });
  }
}

/** The row of a new job, state `pending`. `json` is the payload as JSON, when the caller has it already. */
export function newRecord(id: string, payload: CallPayload, options: StoredJobOptions, json = JSON.stringify(payload)): DeferredJobRecord {
  const t = payload.target;
  const recordKeys = t.kind === 'records' ? `|${t.ids.map(keyOf).join('|')}|` : '';
  if (recordKeys.length > MAX_RECORD_KEYS_LENGTH) {
    throw new DeferralError('DEFER_ERR_PAYLOAD_TOO_LARGE', `The keys of the ${t.kind === 'records' ? t.ids.length : 0} records take ${recordKeys.length} characters, more than the job table's recordKeys column holds (${MAX_RECORD_KEYS_LENGTH}): defer the call on fewer records at a time`, { length: recordKeys.length, limit: MAX_RECORD_KEYS_LENGTH });
  }
  const row = new DeferredJobRecord();
  Object.assign(row, {
    id,
    queue: options.queue,
    model: targetName(t),
    method: payload.method,
    recordKeys,
    uid: String(payload.uid),
    state: 'pending',
    percent: 0,
    message: null,
    attempts: 0,
    result: null,
    error: null,
    payload: json,
    jobOptions: JSON.stringify(options),
    createdAt: iso(),
    scheduledAt: options.runAt > Date.now() ? iso(options.runAt) : null,
    startedAt: null,
    finishedAt: null,
    relayedAt: null,
  });
  return row;
}

/** A worker's encoded result as a row stores it (the inverse of {@link recordedResult}). */
export function storedResult(encoded: EncodedResult): string {
  return JSON.stringify(encoded.result);
}

/** The stored result of a completed row, in the form `decodeResult()` reads. */
export function recordedResult(row: Pick<DeferredJobRecord, 'result'>): EncodedResult | undefined {
  return row.result === null ? undefined : { v: PAYLOAD_VERSION, result: JSON.parse(row.result) as EncodedResult['result'] };
}

/** The configured data sources that record jobs and are open. */
export function recordingSources(): DataSource[] {
  return Object.values(getConfig().dataSources).filter((ds) => ds.isInitialized && recordsEnabled(ds));
}

/** The row of job `id` and its data source: in `dataSource` when given, else in any recording data source. */
export async function findRecord(id: string, dataSource?: DataSource): Promise<{ row: DeferredJobRecord; dataSource: DataSource } | undefined> {
  const sources = dataSource ? (dataSource.isInitialized ? [dataSource] : []) : recordingSources();
  for (const ds of sources) {
    const row = await ds.manager.findOneBy(DeferredJobRecord, { id });
    if (row) return { row, dataSource: ds };
  }
  return undefined;
}

/** Updates a row, unless it is already completed (a late or repeated delivery never undoes a completion). */
export async function markRecord(manager: EntityManager, id: string, changes: Partial<DeferredJobRecord>, onlyFrom?: RecordState[]): Promise<boolean> {
  const where: FindOptionsWhere<DeferredJobRecord> = { id, state: In(onlyFrom ?? ['pending', 'relaying', 'queued', 'delayed', 'active', 'failed']) };
  const result = await manager.update(DeferredJobRecord, where, changes);
  return (result.affected ?? 0) > 0;
}

/** The data source that records jobs of `model`, or DEFER_ERR_UNKNOWN_DATA_SOURCE. */
function recordingDataSource(model?: string | (abstract new (...a: never[]) => unknown), dataSource?: DataSource | string): DataSource {
  const { dataSources } = getConfig();
  if (typeof dataSource === 'string') {
    const ds = dataSources[dataSource];
    if (ds && recordsEnabled(ds)) return ds;
  } else if (dataSource) {
    if (recordsEnabled(dataSource)) return dataSource;
  } else {
    const found = Object.values(dataSources).find((ds) => recordsEnabled(ds) && (model === undefined || ds.hasMetadata(model as string)));
    if (found) return found;
  }
  throw new DeferralError('DEFER_ERR_UNKNOWN_DATA_SOURCE', 'No configured data source records jobs: add DeferredJobRecord to its entities', {});
}

/**
 * The recorded jobs of an entity class (model-level and record-level calls), or of one record.
 * Newest first.
 *
 * @example
 * ```ts
 * const history = await jobsFor(invoice)            // or jobsFor(Invoice, 42), jobsFor('Invoice')
 * ```
 */
export async function jobsFor(entityOrClass: ObjectLiteral | string | (abstract new (...a: never[]) => unknown), id?: string | number, options: { dataSource?: DataSource | string; limit?: number } = {}): Promise<DeferredJobRecord[]> {
  let model: string;
  let key = id === undefined ? undefined : String(id);
  const isRecord = typeof entityOrClass === 'object' && entityOrClass !== null;
  const target = isRecord ? (entityOrClass.constructor as abstract new (...a: never[]) => unknown) : (entityOrClass as string | (abstract new (...a: never[]) => unknown));
  const ds = recordingDataSource(target, options.dataSource);
  if (ds.hasMetadata(target as string)) {
    const metadata = ds.getMetadata(target as string);
    model = metadata.name;
    if (isRecord && key === undefined) {
      const idMap = metadata.getEntityIdMap(entityOrClass as ObjectLiteral);
      if (idMap) key = keyOf(idMap as IdMap);
    }
  } else if (typeof target === 'string') {
    model = target;
  } else {
    throw new DeferralError('DEFER_ERR_UNKNOWN_MODEL', `${(target as { name?: string }).name ?? 'model'} is not an entity of the recording data source`, {});
  }
  const qb = ds.getRepository(DeferredJobRecord).createQueryBuilder('j').where('j.model = :model', { model });
  if (key !== undefined) qb.andWhere('j.recordKeys LIKE :key', { key: `%|${key.replace(/[\\%_]/g, '\\$&')}|%` });
  return qb.orderBy('j.createdAt', 'DESC').addOrderBy('j.id', 'DESC').take(options.limit ?? 100).getMany();
}

/**
 * Recorded jobs by state, model, uid and creation time. Newest first.
 *
 * @example
 * ```ts
 * await listJobs({ state: 'failed', since: new Date(Date.now() - 86_400_000), limit: 50 })
 * ```
 */
export async function listJobs(filter: { state?: RecordState | RecordState[]; model?: string; uid?: string | number; since?: Date; limit?: number; dataSource?: DataSource | string } = {}): Promise<DeferredJobRecord[]> {
  const ds = recordingDataSource(undefined, filter.dataSource);
  const where: FindOptionsWhere<DeferredJobRecord> = {};
  if (filter.state) where.state = Array.isArray(filter.state) ? In(filter.state) : filter.state;
  if (filter.model) where.model = filter.model;
  if (filter.uid !== undefined) where.uid = String(filter.uid);
  if (filter.since) where.createdAt = MoreThanOrEqual(filter.since.toISOString());
  return ds.getRepository(DeferredJobRecord).find({ where, order: { createdAt: 'DESC', id: 'DESC' }, take: filter.limit ?? 100 });
}

/**
 * Deletes the rows in `states` (of `queues`, default all) finished before `cutoff`, `batch` per
 * statement, so a big backlog never holds the table for long; resolves how many went.
 */
export async function deleteFinishedRows(ds: DataSource, { states, queues, cutoff, batch = 1000 }: { states: string[]; queues?: string[]; cutoff: number; batch?: number }): Promise<number> {
  const repo = ds.getRepository(DeferredJobRecord);
  const where = { state: In(states), ...(queues ? { queue: In(queues) } : {}), finishedAt: LessThan(iso(cutoff)) };
  let removed = 0;
  for (;;) {
    // Select then delete by id: a DELETE … LIMIT is not portable (PostgreSQL has none).
    const found = await outsideJobs(ds, async () => {
      const ids = (await repo.find({ select: { id: true }, where, take: batch })).map((r) => r.id);
      if (ids.length) removed += (await repo.delete({ id: In(ids) })).affected ?? 0;
      return ids.length;
    });
    if (found < batch) return removed;
  }
}

/**
 * Deletes finished rows (completed, failed, cancelled) finished more than `olderThanMs` ago.
 * Returns how many were deleted. Workers run it with `startWorker({ recordRetentionMs })`.
 *
 * @example
 * ```ts
 * await pruneJobs({ olderThanMs: 30 * 86_400_000 })
 * ```
 */
export async function pruneJobs({ olderThanMs, dataSource }: { olderThanMs: number; dataSource?: DataSource | string }): Promise<number> {
  const ds = recordingDataSource(undefined, dataSource);
  return deleteFinishedRows(ds, { states: ['completed', 'failed', 'cancelled'], cutoff: Date.now() - olderThanMs });
}
