import { DeferralError } from '../errors.js';
import { QUEUE_NAMES, show, type QueueName } from '../options.js';
import { readyProducerQueue } from '../queues.js';

/** The queue named, or DEFER_ERR_INVALID_OPTION naming the value (callers from JavaScript may pass anything). */
function knownQueue(queue: unknown): QueueName {
  if (QUEUE_NAMES.includes(queue as QueueName)) return queue as QueueName;
  throw new DeferralError('DEFER_ERR_INVALID_OPTION', `Invalid option queue: ${show(queue)} must be one of ${QUEUE_NAMES.join(', ')}`, { option: 'queue', value: queue });
}

/**
 * Stops every worker of `queue`, in every process, from starting its jobs: jobs already running
 * finish, new ones (from `Deferred()`, `submitTask()`, delays and retries coming due) wait until
 * {@link resumeQueue}. The state is kept in Redis (BullMQ's `Queue.pause()`, the same as
 * bull-board's pause button), so it outlives the process and every worker started later sees it.
 *
 * @example
 * ```ts
 * await pauseQueue('low')          // before a migration
 * await runMigration()
 * await resumeQueue('low')
 * ```
 */
export async function pauseQueue(queue: QueueName): Promise<void> {
  await (await readyProducerQueue(knownQueue(queue))).pause();
}

/**
 * Lets the workers of a queue paused by {@link pauseQueue} (or bull-board) start its jobs again;
 * the jobs that waited run in their usual order. Resuming a queue that is not paused does nothing.
 *
 * @example
 * ```ts
 * await resumeQueue('low')
 * ```
 */
export async function resumeQueue(queue: QueueName): Promise<void> {
  await (await readyProducerQueue(knownQueue(queue))).resume();
}

/**
 * Whether `queue` is paused for every worker ({@link pauseQueue}, bull-board). A worker paused on
 * its own (`worker.pause()`) does not pause the queue.
 *
 * @example
 * ```ts
 * if (await isQueuePaused('low')) console.warn('low is paused')
 * ```
 */
export async function isQueuePaused(queue: QueueName): Promise<boolean> {
  return (await readyProducerQueue(knownQueue(queue))).isPaused();
}
