import type { DeferredJobState } from '../src/job/job.js';
import type { QueueName } from '../src/options.js';

/** What one attempt of one job came to, as `drainQueues()` and `runRecorded()` report it. */
export interface JobOutcome<R = unknown> {
  id: string;
  queue: QueueName;
  /** `Model.method`, or the task name (the BullMQ job name). */
  call: string;
  /** 1 for the first attempt. */
  attempt: number;
  /**
   * Where the job stands after this attempt: `completed`, `failed` (for good), `cancelled`, or
   * `waiting` / `delayed` when it failed and will be retried (`delayed` with a backoff).
   */
  state: DeferredJobState;
  /** The decoded return value, when completed. */
  result?: R;
  /** Why the attempt failed: the message and, for a DeferralError, its code. */
  error?: { message: string; code?: string };
}

/** `{ message, code? }` of a thrown value. */
export function outcomeError(message: string, code: string | undefined): NonNullable<JobOutcome['error']> {
  return code === undefined ? { message } : { message, code };
}
