import type { EntityManager } from 'typeorm';
import { DeferralError } from '../errors.js';
import { nameProblem } from '../limits.js';
import { QUEUE_NAMES, show, type QueueName } from '../options.js';
import { currentJob, type JobContext } from '../worker/context.js';

/** A Standard Schema (zod, valibot, arktype…): what `validate` may be besides a function. */
export interface StandardSchemaV1<Input = unknown, Output = Input> {
  readonly '~standard': {
    readonly version: 1;
    readonly vendor: string;
    readonly validate: (value: unknown) => StandardResult<Output> | Promise<StandardResult<Output>>;
    readonly types?: { readonly input: Input; readonly output: Output } | undefined;
  };
}
type StandardResult<Output> =
  | { readonly value: Output; readonly issues?: undefined }
  | { readonly issues: ReadonlyArray<{ readonly message: string; readonly path?: ReadonlyArray<PropertyKey | { readonly key: PropertyKey }> }> };

/** What checks a task's payload: a function returning the typed payload (or throwing), or a Standard Schema. */
export type PayloadValidator<P> = ((payload: unknown) => P) | StandardSchemaV1<unknown, P>;

/** Options of {@link defineTask}. */
export interface TaskOptions<P> {
  /** The queue its jobs go to unless `submitTask(…, { queue })` says otherwise. @defaultValue `'default'` */
  queue?: QueueName;
  /** Checks the payload at `submitTask()` and again in the worker; a failure is DEFER_ERR_INVALID_PAYLOAD. */
  validate?: PayloadValidator<P>;
}

/** A named task: what `defineTask` returns and `submitTask` takes, carrying the payload and result types. */
export interface TaskDefinition<P = unknown, R = unknown> {
  readonly name: string;
  readonly queue?: QueueName;
  readonly handler: (payload: P, ctx: JobContext) => R | Promise<R>;
  readonly validate?: PayloadValidator<P>;
}

const tasks = new Map<string, TaskDefinition>();

/**
 * Defines a task: a handler run by workers for payloads submitted under `name`. Define it in
 * every process that runs it (the worker) and, to validate at submit time, in the processes that
 * submit it. Defining a name again replaces its handler.
 *
 * @example
 * ```ts
 * export const sendWelcome = defineTask('send-welcome', async ({ userId }: { userId: number }, ctx) => {
 *   const user = await ctx.manager.findOneByOrFail(User, { id: userId })
 *   return mailer.send(user.email, 'Welcome')
 * }, { queue: 'low' })
 * ```
 */
export function defineTask<P, R>(name: string, handler: (payload: P, ctx: JobContext) => R | Promise<R>, options: TaskOptions<P> = {}): TaskDefinition<P, R> {
  const problem = typeof name === 'string' ? nameProblem(name) : 'must be a string';
  if (problem) throw new DeferralError('DEFER_ERR_INVALID_OPTION', `Invalid task name ${show(name)}: ${problem}`, { option: 'name', value: name });
  if (typeof handler !== 'function') throw new DeferralError('DEFER_ERR_INVALID_OPTION', `Task ${show(name)}: the handler must be a function (payload, ctx) => result`, { option: 'handler' });
  const { queue, validate } = options;
  if (queue !== undefined && !QUEUE_NAMES.includes(queue)) throw new DeferralError('DEFER_ERR_INVALID_OPTION', `Task ${show(name)}: queue ${show(queue)} is not one of ${QUEUE_NAMES.join(', ')}`, { option: 'queue', value: queue });
  if (validate !== undefined && typeof validate !== 'function' && typeof (validate as StandardSchemaV1)?.['~standard']?.validate !== 'function') {
    throw new DeferralError('DEFER_ERR_INVALID_OPTION', `Task ${show(name)}: validate must be a function (payload) => payload or a Standard Schema (zod, valibot…)`, { option: 'validate' });
  }
  const definition: TaskDefinition<P, R> = Object.freeze({ name, handler, ...(queue ? { queue } : {}), ...(validate ? { validate } : {}) });
  tasks.set(name, definition as TaskDefinition);
  return definition;
}

/** The task defined under `name` in this process, if any. */
export function taskNamed(name: string): TaskDefinition | undefined {
  return tasks.get(name);
}

function invalid(task: string, why: string, cause?: unknown): DeferralError {
  return new DeferralError('DEFER_ERR_INVALID_PAYLOAD', `Invalid payload for task ${show(task)}: ${why}`, { task }, cause === undefined ? undefined : { cause });
}

/** The payload as the task's validator returns it, or DEFER_ERR_INVALID_PAYLOAD saying why. */
export async function validatePayload<P>(task: TaskDefinition<P, unknown>, payload: unknown): Promise<P> {
  const { validate } = task;
  if (!validate) return payload as P;
  if (typeof validate === 'function') {
    try {
      return validate(payload);
    } catch (err) {
      throw invalid(task.name, err instanceof Error ? err.message : String(err), err);
    }
  }
  const result = await validate['~standard'].validate(payload);
  if (result.issues) {
    const issues = result.issues.map((i) => `${i.path?.length ? `${i.path.map((p) => String(typeof p === 'object' ? p.key : p)).join('.')}: ` : ''}${i.message}`);
    throw invalid(task.name, issues.join('; '));
  }
  return result.value;
}

/** Runs a task in the worker: the payload checked again (whoever wrote the job), then the handler with the job's context. */
export async function runTask(name: string, payload: unknown, manager: EntityManager): Promise<unknown> {
  const task = tasks.get(name);
  if (!task) throw unknownTask(name);
  const valid = await validatePayload(task, payload);
  const ctx = currentJob();
  if (!ctx) throw new Error(`Task ${show(name)} runs inside a job (the worker, processNextJob)`);
  // The manager of this run: the job's transaction, or the enclosing job's for an inline nested call.
  return task.handler(valid, { ...ctx, manager });
}

/** DEFER_ERR_UNKNOWN_TASK for a name no task is defined under here. */
export function unknownTask(name: string): DeferralError {
  return new DeferralError('DEFER_ERR_UNKNOWN_TASK', `No task named ${show(name)} is defined in this process (defineTask() in the worker's code)`, { task: name });
}
