import { getConfig } from '../src/config.js';
import { DeferralError } from '../src/errors.js';
import { interceptEnqueue, type EnqueueInterceptor, type InterceptedCall } from '../src/enqueue/intercept.js';
import { jobName } from '../src/call/invoke.js';
import { checkPayloadSize } from '../src/outbox/records.js';
import { delayOf } from '../src/options.js';
import { callMatches, targetOf, type DeferredTarget } from './call-matcher.js';
import { FakeJob } from './fake-job.js';
import type { JobOutcome } from './outcome.js';
import { describeCall, recordedCall, type RecordedCall } from './recorded-call.js';
import { runRecordedCall } from './run-recorded-call.js';

/** A test for a recorded call, on top of its model and method. */
export type CallPredicate = (call: RecordedCall) => boolean;

/** What {@link fakeQueues} returns. */
export interface FakeQueues {
  /** The calls recorded so far, in the order they were made (a live array). */
  readonly calls: readonly RecordedCall[];
  /**
   * Throws, listing what was recorded, unless a call on `model` (an entity class or name, a record,
   * a registered repository, a task definition or name) to `method` (any method when omitted; a
   * task's is `'run'`) was recorded and `predicate` accepts it. Returns the first such call.
   */
  assertDeferred(model: DeferredTarget, method?: string, predicate?: CallPredicate): RecordedCall;
  /** A task, or any target, with a predicate and no method. */
  assertDeferred(model: DeferredTarget, predicate: CallPredicate): RecordedCall;
  /** Throws, listing what was recorded, if anything was. */
  assertNothingDeferred(): void;
  /**
   * Runs the recorded calls not run yet, in order, in this process against the real database (one
   * attempt each, as a worker's first attempt: checks, `authorize`, a transaction when the call has
   * one, `currentJob()`), including calls recorded while they run. Resolves one outcome per call;
   * their handles then report it.
   */
  runRecorded(): Promise<JobOutcome[]>;
  /** Stops recording: calls go to their queues again (or to the fake made before this one). Idempotent. */
  restore(): void;
}

// Fakes in place, oldest first: the newest records; restoring any one puts back the one below it.
const stack: Array<{ interceptor: EnqueueInterceptor }> = [];
let outside: EnqueueInterceptor | undefined;

const MAX_RUNS = 10_000;

/** The recorded calls, one numbered line each, for an assertion's message. */
function recordedList(calls: readonly RecordedCall[]): string {
  return calls.length === 0 ? 'Nothing was recorded.' : `Recorded calls (${calls.length}):\n${calls.map((c, i) => `  ${i + 1}. ${describeCall(c)}`).join('\n')}`;
}

function notRecorded(expected: string, calls: readonly RecordedCall[]): Error {
  return new Error(`Expected ${expected}, but none was recorded.\n${recordedList(calls)}`);
}

/**
 * Makes `Deferred()`, the `DeferredType` variants and `submitTask()` record calls instead of
 * sending them: no Redis is needed (`configure({ dataSources })` still is: the call is built and
 * checked as usual). Inside a job run by `runRecorded()`, a nested call without `allowNested` still
 * runs inline. A call made inside a transaction is recorded at once, whether or not it commits.
 * Calling it again before `restore()` stacks a new fake over the first: the newest records.
 *
 * @example
 * ```ts
 * const fake = fakeQueues()
 * afterEach(() => fake.restore())
 * await closeInvoice(invoice)
 * fake.assertDeferred(Invoice, 'sendReminder', (c) => c.args[0] === 'second notice')
 * ```
 */
export function fakeQueues(): FakeQueues {
  const calls: RecordedCall[] = [];
  let ran = 0;
  const interceptor: EnqueueInterceptor = (c: InterceptedCall) => {
    // Refused as a real enqueue would refuse it: too big for Redis or the job table.
    checkPayloadSize(JSON.stringify(c.payload), c.dataSource.dataSource, getConfig().maxPayloadBytes);
    const delay = delayOf(c.options);
    const job = new FakeJob(c.id, c.queue, jobName(c.payload), c.payload.uid, c.options.attempts ?? 1, delay > 0 ? new Date(Date.now() + delay) : undefined);
    calls.push(recordedCall(c, job));
    return job;
  };
  const entry = { interceptor };
  const previous = interceptEnqueue(interceptor);
  if (stack.length === 0) outside = previous;
  stack.push(entry);

  function assertDeferred(model: DeferredTarget, method?: string | CallPredicate, predicate?: CallPredicate): RecordedCall {
    const [name, test] = typeof method === 'function' ? [undefined, method] : [method, predicate];
    if (name !== undefined && typeof name !== 'string') throw new DeferralError('DEFER_ERR_INVALID_OPTION', 'assertDeferred: method must be a method name (or the predicate)', { option: 'method', value: name });
    const target = targetOf(model);
    const found = calls.find((c) => callMatches(c, target, name) && (!test || test(c)));
    if (found) return found;
    throw notRecorded(`a deferred call of ${target.name}${name ? `.${name}` : ''}${test ? ' matching the predicate' : ''}`, calls);
  }

  return {
    calls,
    assertDeferred: assertDeferred as FakeQueues['assertDeferred'],
    assertNothingDeferred() {
      if (calls.length > 0) throw new Error(`Expected nothing to be deferred, but ${calls.length} call(s) were.\n${recordedList(calls)}`);
    },
    async runRecorded() {
      const outcomes: JobOutcome[] = [];
      while (ran < calls.length) {
        const call = calls[ran++]!;
        if (call.job.finished) continue;
        if (outcomes.length >= MAX_RUNS) throw new DeferralError('DEFER_ERR_INVALID_OPTION', `runRecorded: more than ${MAX_RUNS} calls ran and more were recorded; a call that defers another forever?`, { outcomes });
        outcomes.push(await runRecordedCall(call));
      }
      return outcomes;
    },
    restore() {
      const index = stack.indexOf(entry);
      if (index < 0) return;
      stack.splice(index, 1);
      interceptEnqueue(stack.at(-1)?.interceptor ?? outside);
    },
  };
}
