// 10.4 Queue control: pauseQueue/resumeQueue/isQueuePaused, worker.pause()/resume(), and the
// startWorker options queues { concurrency, global }, limits and name.
import { isQueuePaused, pauseQueue, resumeQueue, startWorker, type DeferredWorker, type QueueRateLimit, type WorkerOptions } from '../../src/index.js';
import { expectExact } from './type-assert.js';

expectExact<Promise<void>>()(pauseQueue('low'));
expectExact<Promise<void>>()(resumeQueue('high'));
expectExact<Promise<boolean>>()(isQueuePaused('default'));
// @ts-expect-error: not a queue
pauseQueue('urgent');
// @ts-expect-error: the queue is required
isQueuePaused();

async function worker() {
  const w = await startWorker({ name: 'billing-1', queues: { high: 2, low: { concurrency: 1, global: 1 } }, limits: { low: { max: 10, durationMs: 1000 } } });
  expectExact<Promise<void>>()(w.pause());
  expectExact<Promise<void>>()(w.resume());
  expectExact<boolean>()(w.paused);
  expectExact<string>()(w.name);
  // @ts-expect-error: read-only
  w.paused = true;
  const h: DeferredWorker = w;
  return h;
}
void worker;

const removing: WorkerOptions = { queues: { low: { concurrency: 1, global: false } }, limits: { low: false } };
const limit: QueueRateLimit = { max: 1, durationMs: 500 };
void removing;
void limit;
// @ts-expect-error: limits name the queue
const unknownQueue: WorkerOptions = { limits: { urgent: { max: 1, durationMs: 1 } } };
// @ts-expect-error: durationMs, not duration
const wrongKey: WorkerOptions = { limits: { low: { max: 1, duration: 1 } } };
// @ts-expect-error: global is a number or false
const wrongGlobal: WorkerOptions = { queues: { low: { concurrency: 1, global: true } } };
void unknownQueue; void wrongKey; void wrongGlobal;
