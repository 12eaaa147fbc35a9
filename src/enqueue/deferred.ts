import { randomUUID } from 'node:crypto';
import { InstanceChecker } from 'typeorm';
import { afterCommit, CommitGate, inTransaction } from '../outbox/after-commit.js';
import { pushJob, pushRecorded } from './push.js';
import { checkPayloadSize, newRecord, recordsEnabled, type StoredJobOptions } from '../outbox/records.js';
import { decodeResult, encodeResult, type CallPayload, type Uid } from '../call/call.js';
import { getConfig } from '../config.js';
import { DeferralError, isDeferralError } from '../errors.js';
import { currentJob, type JobContext } from '../worker/context.js';
import { InlineJob, QueuedJob, type DeferredJob } from '../job/job.js';
import { authorizeCall, buildPayload, jobName, prepareCall } from '../call/invoke.js';
import { DEFAULT_RETENTION, delayOf, mergeOptions, validateOptions, type DeferredOptions } from '../options.js';
import { resolveDataSource, type NamedDataSource } from '../call/registry.js';
import type { DbArgument, DeferredFunction } from './deferred-signature.js';
import { outsideJobs } from '../outbox/single-connection.js';
import { insertRecord } from '../outbox/statements.js';
import { producerSpan } from '../observe/tracing.js';
import { enqueueInterceptor } from './intercept.js';

export type { DbArgument, DeferrableMethodNames, DeferredArgs, DeferredFunction, DeferredModel, DeferredResult, MethodNames, RepositoryMethodNames } from './deferred-signature.js';

let nested = 0;

/** Runs a nested call in the enclosing job's transaction and returns a completed handle. */
async function runInline(ctx: JobContext, payload: CallPayload): Promise<DeferredJob> {
  const config = getConfig();
  const prepared = prepareCall(payload, config.dataSources);
  await authorizeCall(config.authorize, { ...prepared.info, queue: ctx.queue, jobId: ctx.id });
  const value = prepared.dataSource === ctx.dataSource
    ? await prepared.run(ctx.manager)
    : await prepared.dataSource.transaction((manager) => prepared.run(manager));
  // Through the result codec, so a nested call hands back what a queued one would.
  return new InlineJob(`${ctx.id}-nested-${++nested}`, ctx.queue, decodeResult(encodeResult(value)));
}

/**
 * Puts a built call on its queue. With the job table, its row is written first (through the
 * caller's manager); inside a transaction, the push waits for the commit.
 */
async function enqueue(named: NamedDataSource, db: DbArgument, id: string, payload: CallPayload, stored: StoredJobOptions): Promise<DeferredJob> {
  const { dataSource } = named;
  const { queue } = stored;
  const json = JSON.stringify(payload);
  checkPayloadSize(json, dataSource, getConfig().maxPayloadBytes);
  const manager = InstanceChecker.isDataSource(db) || typeof db === 'string' ? dataSource.manager : db;
  const tx = inTransaction(manager.queryRunner) ? manager.queryRunner : undefined;
  if (recordsEnabled(dataSource)) {
    // The row is written through the caller's manager: inside its transaction, it exists only if that commits.
    const row = newRecord(id, payload, stored, json);
    const insert = () => insertRecord(manager, row);
    await (tx ? insert() : outsideJobs(dataSource, insert));
    const push = () => pushRecorded(dataSource, id, payload, stored);
    if (tx) afterCommit(tx, push);
    // Redis down: the row stays pending and a worker's relay pushes it later, so nothing is lost. A
    // connection that cannot work (a plain client on a cluster node) is said at once; the row waits for the fix.
    else await push().catch((err: unknown) => { if (isDeferralError(err, 'DEFER_ERR_INVALID_OPTION')) throw err; });
    return new QueuedJob(id, queue, dataSource);
  }
  if (tx) {
    // No job table: the handle itself knows the push waits for the commit.
    const gate = new CommitGate();
    afterCommit(tx, async () => {
      try {
        await pushJob(id, payload, stored);
        gate.state = 'pushed';
      } catch (err) {
        gate.state = 'failed';
        gate.error = err;
      }
    }, () => { gate.state = 'dropped'; });
    return new QueuedJob(id, queue, undefined, gate);
  }
  await pushJob(id, payload, stored);
  return new QueuedJob(id, queue);
}

/** A deferred call, built and checked: what `Deferred()` pushes and what a schedule stores. */
export function buildCall(model: unknown, db: DbArgument, uid: Uid, method: string, args: readonly unknown[], typeOptions: Readonly<DeferredOptions>): { payload: CallPayload; named: NamedDataSource; options: DeferredOptions } {
  const options = mergeOptions(DEFAULT_RETENTION, getConfig().defaults, typeOptions);
  const named = resolveDataSource(db);
  const payload = buildPayload(model, named, uid, method, args, {
    transaction: options.transaction ?? true,
    skipMissing: options.skipMissing ?? false,
    ...(options.timeout !== undefined ? { timeout: options.timeout } : {}),
  });
  return { payload, named, options };
}

function makeDeferred(typeOptions: Readonly<DeferredOptions>): DeferredFunction {
  return (async (model: unknown, db: DbArgument, uid: Uid, method: string, ...args: unknown[]): Promise<DeferredJob> => {
    const { payload, named, options } = buildCall(model, db, uid, method, args, typeOptions);
    return deferPayload(payload, named, db, options);
  }) as DeferredFunction;
}

/**
 * What `Deferred()` and `submitTask()` share once the payload is built: inside a job (without
 * `allowNested`) it runs inline; otherwise it goes on its queue, in a producer span.
 */
export async function deferPayload(payload: CallPayload, named: NamedDataSource, db: DbArgument, options: DeferredOptions): Promise<DeferredJob> {
  const ctx = currentJob();
  if (ctx && !options.allowNested) return runInline(ctx, payload);

  const queue = options.queue ?? 'default';
  // Our own ids are UUIDs: BullMQ's counters restart per queue, and getJob(id) must find a job whatever its queue.
  const id = options.jobId ?? randomUUID();
  const stored: StoredJobOptions = {
    queue, runAt: Date.now() + delayOf(options), attempts: options.attempts ?? 1, priority: options.priority,
    backoff: options.backoff, removeOnComplete: options.removeOnComplete, removeOnFail: options.removeOnFail,
  };
  const intercept = enqueueInterceptor();
  if (intercept) return intercept({ id, queue, payload, dataSource: named, options });
  return producerSpan({ queue, call: jobName(payload), jobId: id }, (trace) => {
    if (trace) payload.trace = trace;
    return enqueue(named, db, id, payload, stored);
  });
}

/**
 * Defers `model.method(...args)` to a worker, on behalf of user `uid`.
 *
 * @example
 * ```ts
 * const job = await Deferred(invoice, dataSource, user.id, 'sendReminder', 'second notice')
 * ```
 */
export const Deferred: DeferredFunction = makeDeferred({});

/**
 * Makes a variant of `Deferred` with options (queue, countdown, eta, attempts…).
 * Invalid options throw DEFER_ERR_INVALID_OPTION here, not at call time.
 *
 * @example
 * ```ts
 * const Tomorrow = DeferredType({ eta: nextMorning(), queue: 'low', attempts: 3 })
 * await Tomorrow(Report, 'main', uid, 'rebuild')
 * ```
 */
export function DeferredType(options: DeferredOptions): DeferredFunction {
  return makeDeferred(validateOptions(options));
}

/**
 * `Deferred` on the `high` queue.
 *
 * @example
 * ```ts
 * await HighPriorityDeferred(user, 'main', uid, 'sendPasswordReset')
 * ```
 */
export const HighPriorityDeferred: DeferredFunction = makeDeferred({ queue: 'high' });

/**
 * `Deferred` on the `low` queue.
 *
 * @example
 * ```ts
 * await LowPriorityDeferred(Report, 'main', uid, 'rebuildAll')
 * ```
 */
export const LowPriorityDeferred: DeferredFunction = makeDeferred({ queue: 'low' });

/**
 * `DeferredType(options)` on the `high` queue; a `queue` option is refused.
 *
 * @example
 * ```ts
 * const Urgent = HighPriorityDeferredType({ attempts: 5 })
 * ```
 */
export function HighPriorityDeferredType(options: Omit<DeferredOptions, 'queue'> = {}): DeferredFunction {
  return DeferredType({ ...withoutQueue(options, 'high'), queue: 'high' });
}

/**
 * `DeferredType(options)` on the `low` queue; a `queue` option is refused.
 *
 * @example
 * ```ts
 * const Nightly = LowPriorityDeferredType({ countdown: 3600 })
 * ```
 */
export function LowPriorityDeferredType(options: Omit<DeferredOptions, 'queue'> = {}): DeferredFunction {
  return DeferredType({ ...withoutQueue(options, 'low'), queue: 'low' });
}

function withoutQueue(options: DeferredOptions, queue: string): DeferredOptions {
  if (options?.queue !== undefined && options.queue !== queue) {
    throw new DeferralError('DEFER_ERR_INVALID_OPTION', `Invalid option queue: ${JSON.stringify(options.queue)} conflicts with the ${queue} queue this variant is for`, { option: 'queue', value: options.queue });
  }
  return options;
}
