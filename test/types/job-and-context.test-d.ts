// 9. getJob(), the DeferredJob handle, currentJob(), reportProgress() and iterAndReport().
import type { DataSource, EntityManager } from 'typeorm';
import {
  currentJob,
  getJob,
  iterAndReport,
  reportProgress,
  type DeferredJob,
  type DeferredJobState,
  type JobContext,
  type ProgressReport,
  type ProgressState,
  type QueueName,
  type Uid,
} from '../../src/index.js';
import { expectExact, type Equal, type Expect } from './type-assert.js';

// getJob(id): Promise<DeferredJob | undefined>, the handle's result being unknown.
expectExact<Promise<DeferredJob | undefined>>()(getJob('a-job-id'));
expectExact<Promise<DeferredJob<unknown> | undefined>>()(getJob('a-job-id'));
// @ts-expect-error: job ids are strings
getJob(42);
// @ts-expect-error: the id is required
getJob();

async function handle() {
  const job = await getJob('a-job-id');
  // @ts-expect-error: possibly undefined
  job.state();
  if (!job) return;
  expectExact<string>()(job.id);
  expectExact<QueueName>()(job.queue);
  expectExact<Promise<DeferredJobState>>()(job.state());
  expectExact<Promise<ProgressState>>()(job.progress());
  expectExact<Promise<unknown>>()(job.result());
  expectExact<Promise<unknown>>()(job.result({ timeoutMs: 5000 }));
  expectExact<Promise<boolean>>()(job.cancel());
  // @ts-expect-error: timeoutMs is a number
  job.result({ timeoutMs: '5s' });
  // @ts-expect-error: the id is read-only
  job.id = 'other';
}
type _state = Expect<Equal<DeferredJobState, 'pending' | 'waiting' | 'delayed' | 'active' | 'completed' | 'failed' | 'cancelled' | 'unknown'>>;
type _progress = Expect<Equal<ProgressState, { percent: number; message?: string }>>;
declare const typedJob: DeferredJob<{ closed: number }>;
expectExact<Promise<{ closed: number }>>()(typedJob.result());
// A typed handle is usable where getJob's untyped one is.
const untyped: DeferredJob = typedJob;

// currentJob(): JobContext | undefined.
expectExact<JobContext | undefined>()(currentJob());
function context() {
  const ctx = currentJob();
  // @ts-expect-error: undefined outside a job
  ctx.uid;
  if (!ctx) return;
  expectExact<string>()(ctx.id);
  expectExact<QueueName>()(ctx.queue);
  expectExact<Uid>()(ctx.uid);
  expectExact<string | number>()(ctx.uid);
  expectExact<number>()(ctx.attempt);
  expectExact<EntityManager>()(ctx.manager);
  expectExact<DataSource>()(ctx.dataSource);
  expectExact<AbortSignal>()(ctx.signal);
  expectExact<void>()(ctx.reportProgress({ message: 'half way', progress: 50 }));
  expectExact<void>()(ctx.log('a line'));
}

// reportProgress({ message?, progress?, valuemin?, valuemax? }): void.
expectExact<void>()(reportProgress({ message: 'Sending mails', progress: 40, valuemin: 0, valuemax: 200 }));
reportProgress({ message: 'Starting' });
reportProgress({ progress: 3 });
reportProgress({ progress: 3, valuemax: 10 });
reportProgress({});
type _report = Expect<Equal<ProgressReport, { message?: string; progress?: number; valuemin?: number; valuemax?: number }>>;
type _reportParam = Expect<Equal<Parameters<typeof reportProgress>, [report: ProgressReport]>>;
// @ts-expect-error: unknown key (the percentage is computed, not reported)
reportProgress({ percent: 40 });
// @ts-expect-error: progress is a number
reportProgress({ progress: '40' });
// @ts-expect-error: message is a string
reportProgress({ message: 40 });
// @ts-expect-error: valuemax is a number
reportProgress({ progress: 1, valuemax: '10' });
// @ts-expect-error: the report is an object, not a bare number
reportProgress(40);

// iterAndReport(iterable, { valuemax, every?, message? }) yields the items.
declare const orders: Array<{ id: number }>;
declare function asyncOrders(): AsyncIterable<{ id: number }>;
expectExact<AsyncGenerator<{ id: number }>>()(iterAndReport(orders, { valuemax: orders.length }));
expectExact<AsyncGenerator<{ id: number }>>()(iterAndReport(asyncOrders(), { valuemax: 10, every: 5, message: 'Invoicing' }));
// @ts-expect-error: valuemax is required
iterAndReport(orders, { message: 'Invoicing' });
// @ts-expect-error: every is a number
iterAndReport(orders, { valuemax: 3, every: 'often' });

export { context, handle, untyped };
