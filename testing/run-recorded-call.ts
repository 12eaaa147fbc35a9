import { decodeResult, encodeResult } from '../src/call/call.js';
import { authorizeCall, prepareCall } from '../src/call/invoke.js';
import { getConfig } from '../src/config.js';
import { DeferralError } from '../src/errors.js';
import { runInJob, type JobContext } from '../src/worker/context.js';
import { ProgressReporter } from '../src/worker/progress.js';
import type { EntityManager } from 'typeorm';
import { outcomeError, type JobOutcome } from './outcome.js';
import type { RecordedCall } from './recorded-call.js';

/** Rejects with the signal's reason once it aborts, so work that ignores the signal still ends (and rolls back). */
function untilAborted<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  let onAbort: (() => void) | undefined;
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
  });
  return Promise.race([work, aborted]).finally(() => signal.removeEventListener('abort', onAbort!));
}

/** Runs the call as a worker's first attempt would: prepared, authorized, in a transaction when its payload says so. */
async function execute(call: RecordedCall, reporter: ProgressReporter, signal: AbortSignal): Promise<unknown> {
  const { dataSources, authorize } = getConfig();
  const prepared = prepareCall(call.payload, dataSources);
  await authorizeCall(authorize, { ...prepared.info, queue: call.queue, jobId: call.id });
  const once = async (manager: EntityManager) => {
    const ctx: JobContext = {
      id: call.id, queue: call.queue, uid: prepared.info.uid, attempt: 1, manager, dataSource: prepared.dataSource, signal,
      reportProgress: (report) => reporter.report(report),
      log: (line) => call.job.sink.line(String(line)),
    };
    // Encoded and decoded as the queue would: the caller gets what a queued job's result() gives.
    return decodeResult(encodeResult(await untilAborted(runInJob(ctx, () => prepared.run(manager)), signal)));
  };
  const { dataSource } = prepared;
  return call.payload.opts.transaction ? dataSource.transaction(once) : once(dataSource.manager);
}

/** Runs one recorded call in this process against the real database and reports it on its handle. */
export async function runRecordedCall(call: RecordedCall): Promise<JobOutcome> {
  const { job } = call;
  const base = { id: call.id, queue: call.queue, call: call.call, attempt: 1 };
  const reporter = new ProgressReporter(job.sink, 0);
  const controller = new AbortController();
  const { timeout } = call.payload.opts;
  const timer = timeout === undefined ? undefined : setTimeout(() => controller.abort(
    new DeferralError('DEFER_ERR_TIMEOUT', `Job ${call.id} ran longer than its timeout of ${timeout} ms`, { jobId: call.id, timeoutMs: timeout })), timeout);
  job.start();
  try {
    const result = await execute(call, reporter, controller.signal);
    await reporter.flush();
    job.finish({ value: result });
    return { ...base, state: 'completed', result };
  } catch (err) {
    await reporter.flush();
    const message = err instanceof Error ? err.message : String(err);
    const code = err instanceof DeferralError ? err.code : undefined;
    job.finish({ failure: { message, ...(err instanceof Error && err.stack ? { stack: err.stack } : {}), ...(code ? { code } : {}) } });
    return { ...base, state: await job.state(), error: outcomeError(message, code) };
  } finally {
    clearTimeout(timer);
  }
}
