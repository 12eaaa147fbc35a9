import { Job } from 'bullmq';

// Job data objects whose stored JSON did not parse, with the parser's message.
const unreadable = new WeakMap<object, string>();

/**
 * A BullMQ Job that can be built from data that is not JSON (written into Redis by something
 * else). BullMQ would throw while fetching it, leaving the job active until it stalls; this one
 * gets empty data that {@link unreadableData} recognizes, so the worker fails it with a code
 * and the handle can still read it.
 */
export class ReadableJob extends Job {
  static override fromJSON<T = unknown, R = unknown, N extends string = string>(...[queue, json, jobId]: Parameters<typeof Job.fromJSON>): Job<T, R, N> {
    try {
      return super.fromJSON<T, R, N>(queue, json, jobId);
    } catch (err) {
      const job = super.fromJSON<T, R, N>(queue, { ...json, data: '{}' }, jobId);
      unreadable.set(job.data as object, err instanceof Error ? err.message : String(err));
      return job;
    }
  }
}

/** Why this job data could not be read from Redis, or undefined for data that was read. */
export function unreadableData(data: unknown): string | undefined {
  return typeof data === 'object' && data !== null ? unreadable.get(data) : undefined;
}

/** {@link ReadableJob} typed as BullMQ's Job class, for the `Job` getter of a Queue or Worker. */
export const READABLE_JOB = ReadableJob as unknown as typeof Job;
