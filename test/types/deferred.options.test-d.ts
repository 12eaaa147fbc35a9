// DeferredType(options) and the priority variants' options.
import {
  DeferredType,
  HighPriorityDeferredType,
  LowPriorityDeferredType,
  QUEUE_NAMES,
  type DeferredFunction,
  type DeferredOptions,
  type QueueName,
} from '../../src/index.js';
import { expectExact, type Equal, type Expect } from './type-assert.js';

type _queues = Expect<Equal<QueueName, 'high' | 'default' | 'low'>>;
type _queueNames = Expect<Equal<typeof QUEUE_NAMES, readonly ['high', 'default', 'low']>>;

// ---------------------------------------------------------------------------
// 7. Valid options compile.
// ---------------------------------------------------------------------------
expectExact<DeferredFunction>()(DeferredType({ countdown: 5 }));
expectExact<DeferredFunction>()(DeferredType({ eta: new Date() }));
expectExact<DeferredFunction>()(DeferredType({ eta: '2026-11-01T08:00:00Z' }));
expectExact<DeferredFunction>()(DeferredType({ eta: Date.now() + 60_000 }));
expectExact<DeferredFunction>()(DeferredType({ queue: 'high' }));
expectExact<DeferredFunction>()(DeferredType({ queue: 'default' }));
expectExact<DeferredFunction>()(DeferredType({ queue: 'low' }));
expectExact<DeferredFunction>()(DeferredType({}));
expectExact<DeferredFunction>()(DeferredType({
  queue: 'low',
  countdown: 0,
  allowNested: true,
  priority: 10,
  attempts: 3,
  backoff: { type: 'exponential', delay: 1000, jitter: 0.5 },
  jobId: 'invoice-42-close',
  timeout: 30_000,
  transaction: false,
  skipMissing: true,
  removeOnComplete: { age: 3600, count: 100 },
  removeOnFail: 1000,
}));
expectExact<DeferredFunction>()(DeferredType({ backoff: 500, removeOnComplete: true, removeOnFail: { count: 5 } }));
// countdown and eta together compile; DeferredType refuses the pair at run time.
expectExact<DeferredFunction>()(DeferredType({ countdown: 5, eta: new Date() }));
const stored: DeferredOptions = { queue: 'high', attempts: 2 };
expectExact<DeferredFunction>()(DeferredType(stored));

// ---------------------------------------------------------------------------
// Invalid options do not compile.
// ---------------------------------------------------------------------------
// @ts-expect-error: 'urgent' is not a queue
DeferredType({ queue: 'urgent' });
// @ts-expect-error: unknown option key
DeferredType({ retries: 3 });
// @ts-expect-error: unknown option key (Celery's name is not ours)
DeferredType({ countdown: 5, expires: 60 });
// @ts-expect-error: countdown is a number of seconds
DeferredType({ countdown: '5' });
// @ts-expect-error: eta is a Date, an ISO string or epoch ms
DeferredType({ eta: { at: 'tomorrow' } });
// @ts-expect-error: allowNested is a boolean
DeferredType({ allowNested: 'yes' });
// @ts-expect-error: backoff type is 'fixed' or 'exponential'
DeferredType({ backoff: { type: 'linear', delay: 100 } });
// @ts-expect-error: jobId is a string
DeferredType({ jobId: 42 });
// @ts-expect-error: options are required
DeferredType();
// @ts-expect-error: options are an object
DeferredType('high');

// ---------------------------------------------------------------------------
// The priority variants take the same options without `queue`.
// ---------------------------------------------------------------------------
expectExact<DeferredFunction>()(HighPriorityDeferredType());
expectExact<DeferredFunction>()(HighPriorityDeferredType({ attempts: 5 }));
expectExact<DeferredFunction>()(LowPriorityDeferredType());
expectExact<DeferredFunction>()(LowPriorityDeferredType({ countdown: 3600, removeOnComplete: false }));
type _highParam = Expect<Equal<Parameters<typeof HighPriorityDeferredType>, [options?: Omit<DeferredOptions, 'queue'>]>>;
type _lowParam = Expect<Equal<Parameters<typeof LowPriorityDeferredType>, [options?: Omit<DeferredOptions, 'queue'>]>>;

// @ts-expect-error: HighPriorityDeferredType's options omit queue
HighPriorityDeferredType({ queue: 'low' });
// @ts-expect-error: even its own queue: the option is not there at all
HighPriorityDeferredType({ queue: 'high' });
// @ts-expect-error: LowPriorityDeferredType's options omit queue
LowPriorityDeferredType({ queue: 'high' });
// @ts-expect-error: unknown option key
HighPriorityDeferredType({ attempts: 5, retries: 3 });
// @ts-expect-error: countdown is a number
LowPriorityDeferredType({ countdown: '1h' });
