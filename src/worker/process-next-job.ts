import { randomUUID } from 'node:crypto';
import { Worker, type Job } from 'bullmq';
import { READABLE_JOB } from '../call/readable-job.js';
import { getConfig, onReset } from '../config.js';
import { DeferralError } from '../errors.js';
import { deferredMetrics } from '../observe/metrics.js';
import { QUEUE_NAMES, show, type QueueName } from '../options.js';
import { closeRedis, openRedis, type OwnedRedis } from '../queues.js';
import type { AttemptScope } from './attempt.js';
import { CancelListener } from './cancel.js';
import { JobPipeline } from './pipeline.js';
import { resolveWorkerOptions } from './worker-options.js';

/** A BullMQ Worker that never fetches by itself: this process takes one job at a time, by hand. */
class ManualWorker extends Worker {
  protected override get Job(): typeof Job {
    return READABLE_JOB;
  }
}

interface Consumer {
  redis: OwnedRedis;
  scope: AttemptScope;
  workers: Map<QueueName, ManualWorker>;
  pipeline: JobPipeline;
}

let consumer: Promise<Consumer> | undefined;

/** The process's by-hand consumer: the worker's pipeline, without a fetch loop, opened on first use. */
async function openConsumer(): Promise<Consumer> {
  const config = getConfig();
  for (const ds of Object.values(config.dataSources)) if (!ds.isInitialized) await ds.initialize();
  const redis = openRedis(config.connection, 'worker');
  const scope: AttemptScope = { cancels: await CancelListener.start(redis.client, config.prefix), active: new Set() };
  const pipeline = new JobPipeline(resolveWorkerOptions({}), scope, await deferredMetrics());
  return { redis, scope, workers: new Map(), pipeline };
}

function workerFor(c: Consumer, queue: QueueName): ManualWorker {
  let worker = c.workers.get(queue);
  if (!worker) {
    const prefix = getConfig().queuePrefixes[queue];
    worker = new ManualWorker(queue, (job, token) => c.pipeline.process(job, queue, token), { connection: c.redis.client, prefix, autorun: false });
    worker.on('error', () => undefined);
    c.workers.set(queue, worker);
  }
  return worker;
}

/** Checks a list of queue names. */
export function checkQueues(queues: readonly QueueName[] | undefined, where: string): readonly QueueName[] {
  if (queues === undefined) return QUEUE_NAMES;
  const bad = Array.isArray(queues) ? queues.find((q) => !QUEUE_NAMES.includes(q)) : queues;
  if (bad !== undefined || !Array.isArray(queues)) {
    throw new DeferralError('DEFER_ERR_INVALID_OPTION', `Invalid ${where} queues: ${show(bad)} is not one of ${QUEUE_NAMES.join(', ')}`, { option: 'queues', value: queues });
  }
  return queues;
}

/**
 * Runs one waiting job of `queues` (tried in the order given) and returns it as it stands after
 * the attempt, or undefined when none was waiting. What processNextJob and drainQueues share.
 */
export async function processOneJob({ queues }: { queues: readonly QueueName[] }): Promise<Job | undefined> {
  const c = await (consumer ??= openConsumer());
  for (const queue of queues) {
    const worker = workerFor(c, queue);
    const token = randomUUID();
    const job = await worker.getNextJob(token, { block: false });
    if (!job) continue;
    await worker.processJob(job, token, () => false);
    return job;
  }
  return undefined;
}

/**
 * Runs exactly one waiting job in this process, through the worker's pipeline (checks, transaction,
 * retries, the job row, logs and metrics), and resolves `true`; `false` when no job was waiting.
 * Queues are tried in priority order (high, default, low); within a queue, jobs run in the order
 * they were added. Delayed jobs wait for their time.
 *
 * @example
 * ```ts
 * await Deferred(invoice, 'main', uid, 'send', 'email')
 * expect(await processNextJob()).toBe(true)
 * ```
 */
export async function processNextJob({ queues }: { queues?: QueueName[] } = {}): Promise<boolean> {
  return (await processOneJob({ queues: checkQueues(queues, 'processNextJob') })) !== undefined;
}

onReset(async () => {
  const c = await consumer?.catch(() => undefined);
  consumer = undefined;
  if (!c) return;
  await Promise.allSettled([...c.workers.values()].map((w) => w.close()));
  await Promise.allSettled([c.scope.cancels.close(), closeRedis(c.redis)]);
});
