// cleanJobs({ olderThanMs, states, queues? }): Promise<{ removed, rows }>.
import { cleanJobs, type CleanJobsResult, type CleanState } from '../../src/index.js';
import { expectExact, type Equal, type Expect } from './type-assert.js';

expectExact<Promise<CleanJobsResult>>()(cleanJobs({ olderThanMs: 7 * 86_400_000, states: ['completed', 'failed'] }));
expectExact<Promise<CleanJobsResult>>()(cleanJobs({ olderThanMs: 0, states: ['failed'], queues: ['high', 'low'], batchSize: 500 }));
type _result = Expect<Equal<CleanJobsResult, { removed: number; rows: number }>>;
type _states = Expect<Equal<CleanState, 'completed' | 'failed'>>;

// @ts-expect-error a cancelled job is a failed one: 'cancelled' is not a state to name
void cleanJobs({ olderThanMs: 0, states: ['cancelled'] });
// @ts-expect-error waiting jobs are never cleaned
void cleanJobs({ olderThanMs: 0, states: ['waiting'] });
// @ts-expect-error not a queue
void cleanJobs({ olderThanMs: 0, states: ['failed'], queues: ['urgent'] });
// @ts-expect-error olderThanMs is required
void cleanJobs({ states: ['failed'] });
