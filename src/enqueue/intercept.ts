import type { CallPayload } from '../call/call.js';
import type { NamedDataSource } from '../call/registry.js';
import type { DeferredJob } from '../job/job.js';
import type { DeferredOptions, QueueName } from '../options.js';

/** A call about to be enqueued, as an interceptor sees it (the payload is built and checked). */
export interface InterceptedCall {
  id: string;
  queue: QueueName;
  payload: CallPayload;
  dataSource: NamedDataSource;
  options: Readonly<DeferredOptions>;
}

/** Takes a call instead of the queue and returns its handle (`fakeQueues()` in typeorm-deferred/testing). */
export type EnqueueInterceptor = (call: InterceptedCall) => DeferredJob | Promise<DeferredJob>;

let current: EnqueueInterceptor | undefined;

/** Installs (or, with undefined, removes) the interceptor; returns the one it replaced. */
export function interceptEnqueue(interceptor: EnqueueInterceptor | undefined): EnqueueInterceptor | undefined {
  const previous = current;
  current = interceptor;
  return previous;
}

/** The interceptor in place, if any. */
export function enqueueInterceptor(): EnqueueInterceptor | undefined {
  return current;
}
