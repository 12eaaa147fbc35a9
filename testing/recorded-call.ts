import { decodeArgs, targetName, toJsonView, type CallPayload, type CallTarget, type IdMap, type Uid } from '../src/call/call.js';
import { jobName } from '../src/call/invoke.js';
import type { InterceptedCall } from '../src/enqueue/intercept.js';
import type { DeferredOptions, QueueName } from '../src/options.js';
import type { FakeJob } from './fake-job.js';

/** A call `fakeQueues()` recorded instead of putting it on its queue. */
export interface RecordedCall {
  /** The job id the call would have had (its handle's id). */
  id: string;
  queue: QueueName;
  /** `Model.method`, or the task name: the BullMQ job name it would have had. */
  call: string;
  kind: CallTarget['kind'];
  /** The entity, repository or task name. */
  model: string;
  /** The method name; `'run'` for a task. */
  method: string;
  /** The arguments as the worker would decode them: records are {@link EntityRef}s; a task's are `[payload]`. */
  args: unknown[];
  /** The primary keys of the records, for a call on records. */
  ids?: IdMap[];
  uid: Uid;
  /** The data source's name in `configure({ dataSources })`. */
  dataSource: string;
  /** For a task: its name and (validated) payload. */
  task?: { name: string; payload: unknown };
  /** The options, defaults and the variant's merged in. */
  options: Readonly<DeferredOptions>;
  /** The payload a worker would have received. */
  payload: CallPayload;
  /** The handle `Deferred()` / `submitTask()` returned: `waiting` until `runRecorded()` runs the call. */
  job: FakeJob;
}

/** What a test sees of an intercepted call. */
export function recordedCall(c: InterceptedCall, job: FakeJob): RecordedCall {
  const { target } = c.payload;
  const args = decodeArgs(c.payload.args);
  return {
    id: c.id, queue: c.queue, call: jobName(c.payload), kind: target.kind, model: targetName(target), method: c.payload.method, args,
    ...(target.kind === 'records' ? { ids: target.ids } : {}),
    uid: c.payload.uid, dataSource: c.payload.ds,
    ...(target.kind === 'task' ? { task: { name: target.name, payload: args[0] } } : {}),
    options: c.options, payload: c.payload, job,
  };
}

const clip = (text: string, max = 160) => (text.length > max ? `${text.slice(0, max - 1)}…` : text);

/** One line describing a recorded call, for assertion messages. */
export function describeCall(c: RecordedCall): string {
  const ids = c.ids ? ` on ${clip(JSON.stringify(c.ids.length === 1 ? c.ids[0] : c.ids), 80)}` : '';
  return `${c.call}${ids} args ${clip(JSON.stringify(toJsonView(c.args)) ?? '[]')} (queue ${c.queue}, uid ${JSON.stringify(c.uid)})`;
}
