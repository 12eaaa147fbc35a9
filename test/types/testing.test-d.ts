// typeorm-deferred/testing: drainQueues and fakeQueues shapes.
import { defineTask } from '../../src/index.js';
import { drainQueues, fakeQueues, type JobOutcome, type RecordedCall } from '../../testing/index.js';
import { Invoice } from './entities.js';
import { expectExact } from './type-assert.js';

expectExact<Promise<JobOutcome[]>>()(drainQueues());
void drainQueues({ queues: ['high', 'low'], includeDelayed: true, maxAttempts: 100 });
// @ts-expect-error not a queue
void drainQueues({ queues: ['urgent'] });
// @ts-expect-error not an option
void drainQueues({ delayed: true });

const fake = fakeQueues();
const add = defineTask('add', ({ a, b }: { a: number; b: number }) => a + b);
expectExact<readonly RecordedCall[]>()(fake.calls);
expectExact<RecordedCall>()(fake.assertDeferred(Invoice, 'recompute'));
fake.assertDeferred('Invoice', 'recompute', (call) => call.args[0] === 1);
fake.assertDeferred(add);
fake.assertDeferred(add, (call) => call.uid === 7);
// @ts-expect-error the predicate takes a recorded call
fake.assertDeferred(add, (call: string) => call === 'x');
fake.assertNothingDeferred();
expectExact<Promise<JobOutcome[]>>()(fake.runRecorded());
fake.restore();
