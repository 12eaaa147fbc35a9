// The public surface of typeorm-deferred/testing: explicit named re-exports only.
export { drainQueues } from './drain-queues.js';
export type { DrainQueuesOptions } from './drain-queues.js';
export { fakeQueues } from './fake-queues.js';
export type { FakeQueues, CallPredicate } from './fake-queues.js';
export type { FakeJob } from './fake-job.js';
export type { RecordedCall } from './recorded-call.js';
export type { DeferredTarget } from './call-matcher.js';
export type { JobOutcome } from './outcome.js';
