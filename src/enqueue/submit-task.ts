import { encodeArgs, PAYLOAD_VERSION, type CallPayload, type Uid } from '../call/call.js';
import { resolveDataSource, type NamedDataSource } from '../call/registry.js';
import { taskNamed, validatePayload, type TaskDefinition } from '../call/task.js';
import { getConfig } from '../config.js';
import { DeferralError } from '../errors.js';
import type { DeferredJob } from '../job/job.js';
import { uidProblem } from '../limits.js';
import { DEFAULT_RETENTION, mergeOptions, show, validateOptions, type DeferredOptions } from '../options.js';
import { deferPayload } from './deferred.js';
import type { DbArgument } from './deferred-signature.js';

/** Options of {@link submitTask}: those of `Deferred`, plus where the job's data lives and whom it runs for. */
export interface SubmitTaskOptions extends DeferredOptions {
  /**
   * A registered DataSource, its name, or an EntityManager: the handler's `ctx.manager` runs in a
   * transaction on it, an EntityManager inside a transaction pushes the job after the commit, and a
   * job table there records the job. @defaultValue the first data source of `configure()`, without a transaction
   */
  db?: DbArgument;
  /** The user the task runs for (`authorize`, `ctx.uid`, the job API). @defaultValue `'system'` */
  uid?: Uid;
}

/** The data source a task runs on: `db`, or the first configured one. */
function taskDataSource(task: string, db: DbArgument | undefined): DbArgument {
  if (db !== undefined) return db;
  const [first] = Object.keys(getConfig().dataSources);
  if (first === undefined) {
    throw new DeferralError('DEFER_ERR_UNKNOWN_DATA_SOURCE', `submitTask(${show(task)}): no data source: pass { db } or register one in configure({ dataSources })`, { task });
  }
  return first;
}

/** A task call, built and checked: what `submitTask()` pushes and what a schedule stores. */
export interface BuiltTaskCall {
  payload: CallPayload;
  named: NamedDataSource;
  where: DbArgument;
  options: DeferredOptions;
}

/** Builds a task's payload: the name or definition, the uid, the options and the payload are checked (the payload by the task's validator). */
export async function buildTaskCall<P>(task: TaskDefinition<P, unknown> | string, payload: P, options: SubmitTaskOptions, caller = 'submitTask'): Promise<BuiltTaskCall> {
  const name = typeof task === 'string' ? task : task?.name;
  const definition = typeof task === 'string' ? taskNamed(task) : task;
  if (typeof name !== 'string' || !name) throw new DeferralError('DEFER_ERR_UNKNOWN_TASK', `${caller}: ${show(task)} is not a task name or a definition from defineTask()`, {});
  const { db, uid = 'system', ...rest } = options;
  const problem = uidProblem(uid);
  if (problem) throw new DeferralError('DEFER_ERR_INVALID_OPTION', `Invalid uid: ${show(uid)} ${problem}`, { option: 'uid', value: uid });
  const checked = validateOptions(rest);
  const merged = mergeOptions(DEFAULT_RETENTION, getConfig().defaults, { ...(definition?.queue ? { queue: definition.queue } : {}), ...checked });
  const valid = definition ? await validatePayload(definition as TaskDefinition<P, unknown>, payload) : payload;
  const where = taskDataSource(name, db);
  const named = resolveDataSource(where);
  const built: CallPayload = {
    v: PAYLOAD_VERSION, ds: named.name, target: { kind: 'task', name }, method: 'run', uid,
    args: encodeArgs([valid], named.dataSource),
    opts: {
      // A transaction by default when the task was given its data source, as a deferred method has.
      transaction: merged.transaction ?? db !== undefined,
      skipMissing: merged.skipMissing ?? false,
      ...(merged.timeout !== undefined ? { timeout: merged.timeout } : {}),
    },
  };
  return { payload: built, named, where, options: merged };
}

/**
 * Puts a task on its queue; the same handle as `Deferred()`. With a definition, the payload is
 * validated here (and again in the worker) and the payload and result types follow; by name, a
 * task defined only in the worker can be submitted too.
 *
 * @example
 * ```ts
 * const job = await submitTask(sendWelcome, { userId: 42 }, { uid: user.id, countdown: 60 })
 * ```
 */
export async function submitTask<P, R>(task: TaskDefinition<P, R> | string, payload: P, options: SubmitTaskOptions = {}): Promise<DeferredJob<R>> {
  const built = await buildTaskCall(task as TaskDefinition<P, unknown> | string, payload, options);
  return deferPayload(built.payload, built.named, built.where, built.options) as Promise<DeferredJob<R>>;
}
