import type { Redis } from 'ioredis';

// A job id never contains ':', so these keys cannot collide with BullMQ's own.
/** The key that marks a job as cancelled (kept a week, so state() can say so after removal). */
export const cancelKey = (prefix: string, id: string) => `${prefix}:deferred-cancelled:${id}`;
/** The channel on which workers hear that a running job was cancelled. */
export const cancelChannel = (prefix: string) => `${prefix}:deferred-cancel`;
const CANCEL_MARK_SECONDS = 7 * 24 * 3600;

/** Marks a job cancelled; `queue` is stored so getJob() can find a job removed by cancel. */
export async function markCancelled(redis: Redis, prefix: string, id: string, queue: string): Promise<void> {
  await redis.set(cancelKey(prefix, id), queue, 'EX', CANCEL_MARK_SECONDS);
}

/** The queue a cancelled job was on, or null when it was not cancelled. */
export function cancelledQueue(redis: Redis, prefix: string, id: string): Promise<string | null> {
  return redis.get(cancelKey(prefix, id));
}

/** Asks every worker to abort the job if it runs it: the mark covers a job about to start, the message one running now. */
export async function requestCancel(redis: Redis, prefix: string, id: string, queue: string): Promise<void> {
  await markCancelled(redis, prefix, id, queue);
  await redis.publish(cancelChannel(prefix), id);
}

/**
 * Listens, on its own subscriber connection, for cancel requests and aborts the
 * matching running jobs of this worker process.
 */
export class CancelListener {
  private readonly running = new Map<string, () => void>();
  // Requests heard for jobs not (yet) tracked here: one may arrive between BullMQ handing
  // us the job and track(). Kept a minute, so no per-job Redis read is needed to close that gap.
  private readonly recent = new Map<string, number>();

  private constructor(private readonly subscriber: Redis) {}

  static async start(connection: Redis, prefix: string): Promise<CancelListener> {
    // A subscribed connection can do nothing else, so it is a duplicate of the worker's.
    const subscriber = connection.duplicate();
    subscriber.on('error', () => undefined);
    const listener = new CancelListener(subscriber);
    subscriber.on('message', (_channel: string, id: string) => listener.heard(id));
    await subscriber.subscribe(cancelChannel(prefix));
    return listener;
  }

  private heard(id: string): void {
    const abort = this.running.get(id);
    if (abort) return abort();
    const now = Date.now();
    for (const [old, at] of this.recent) if (now - at > 60_000) this.recent.delete(old);
    this.recent.set(id, now);
  }

  /** Registers a running job (aborting it at once if its cancel came first); returns the function to call when it ends. */
  track(id: string, abort: () => void): () => void {
    this.running.set(id, abort);
    if (this.recent.delete(id)) abort();
    return () => this.running.delete(id);
  }

  async close(): Promise<void> {
    this.running.clear();
    this.recent.clear();
    await this.subscriber.quit().catch(() => this.subscriber.disconnect());
  }
}
