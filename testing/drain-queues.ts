import type { Job } from 'bullmq';
import { decodeResult } from '../src/call/call.js';
import { DeferralError } from '../src/errors.js';
import { getJob, jobFailure } from '../src/job/job.js';
import { show, type QueueName } from '../src/options.js';
import { readyProducerQueue } from '../src/queues.js';
import { checkQueues, processOneJob } from '../src/worker/process-next-job.js';
import { outcomeError, type JobOutcome } from './outcome.js';

/** Options of {@link drainQueues}. */
export interface DrainQueuesOptions {
  /** The queues to drain, tried in this order before each job. @defaultValue `['high', 'default', 'low']` */
  queues?: QueueName[];
  /**
   * Run delayed jobs too (countdown, eta, retries with a backoff), at once; a schedule's next job
   * once per drain (each job of a schedule makes the next one: they would never run out). @defaultValue `false`
   */
  includeDelayed?: boolean;
  /** How many attempts may run before the queues are deemed never to drain (a job that enqueues itself). @defaultValue `10_000` */
  maxAttempts?: number;
}

const OPTION_NAMES: ReadonlySet<string> = new Set(['queues', 'includeDelayed', 'maxAttempts']);

function invalid(option: string, value: unknown, why: string): DeferralError {
  return new DeferralError('DEFER_ERR_INVALID_OPTION', `Invalid drainQueues option ${option}: ${show(value)} ${why}`, { option, value });
}

function checkOptions(options: DrainQueuesOptions): Required<Omit<DrainQueuesOptions, 'queues'>> & { queues: readonly QueueName[] } {
  if (typeof options !== 'object' || options === null) throw invalid('options', options, 'is not an object');
  const unknown = Object.keys(options).find((k) => !OPTION_NAMES.has(k));
  if (unknown !== undefined) throw invalid(unknown, (options as Record<string, unknown>)[unknown], `is not an option (known: ${[...OPTION_NAMES].join(', ')})`);
  const { includeDelayed = false, maxAttempts = 10_000 } = options;
  if (typeof includeDelayed !== 'boolean') throw invalid('includeDelayed', includeDelayed, 'is not a boolean');
  if (!Number.isSafeInteger(maxAttempts) || maxAttempts < 1) throw invalid('maxAttempts', maxAttempts, 'is not a positive integer');
  return { queues: checkQueues(options.queues, 'drainQueues'), includeDelayed, maxAttempts };
}

/** What the attempt just run came to, read back from Redis (and the job table) the way a handle reads it. */
async function outcomeOf(job: Job): Promise<JobOutcome> {
  const id = job.id!;
  const snap = await (await getJob(id))?.snapshot();
  // No snapshot: the job's retention removed it at once; the Job object knows how this attempt ended.
  const state = snap?.state ?? (job.returnvalue ? 'completed' : 'failed');
  const outcome: JobOutcome = { id, queue: job.queueName as QueueName, call: job.name, attempt: job.attemptsMade, state };
  if (state === 'completed') {
    outcome.result = snap ? snap.result : decodeResult(job.returnvalue);
  } else if (snap?.error) {
    outcome.error = outcomeError(snap.error.message, snap.error.code);
  } else if (job.failedReason) {
    // A retried attempt: the snapshot shows errors of finished jobs only, the Job object has this attempt's.
    const { remoteMessage, remoteCode } = jobFailure(job).details as { remoteMessage: string; remoteCode?: string };
    outcome.error = outcomeError(remoteMessage, remoteCode);
  }
  return outcome;
}

/**
 * Makes the delayed jobs of the queues due now, but not the next job of a schedule that already ran
 * in this drain: with it the drain would run a schedule's ticks until `maxAttempts`.
 */
async function promoteDelayed(queues: readonly QueueName[], ranSchedules: ReadonlySet<string>): Promise<void> {
  for (const name of queues) {
    const queue = await readyProducerQueue(name);
    if (ranSchedules.size === 0) {
      await queue.promoteJobs();
      continue;
    }
    for (const job of await queue.getJobs(['delayed'])) {
      // Promoted or removed meanwhile: nothing to do.
      if (!(job.repeatJobKey && ranSchedules.has(job.repeatJobKey))) await job.promote().catch(() => undefined);
    }
  }
}

/** True when a job is still waiting on one of the queues. */
async function anyWaiting(queues: readonly QueueName[]): Promise<boolean> {
  for (const name of queues) {
    const counts = await (await readyProducerQueue(name)).getJobCounts('wait', 'prioritized');
    if (Object.values(counts).some((n) => n > 0)) return true;
  }
  return false;
}

/**
 * Runs every waiting job of the queues in this process, through the worker's pipeline (checks,
 * transaction, retries, job rows), until none is left, including jobs those jobs enqueue; with
 * `includeDelayed`, delayed jobs (countdown, eta, retries with a backoff) are promoted and run at
 * once, and each schedule's next job once. Resolves one outcome per attempt, in the order they ran. Queues are tried in priority
 * order before each job. Throws DEFER_ERR_INVALID_OPTION if the queues still are not empty after
 * `maxAttempts` attempts.
 *
 * @example
 * ```ts
 * await signUp('ann@example.com')
 * const outcomes = await drainQueues()
 * expect(outcomes).toMatchObject([{ call: 'send-welcome', state: 'completed' }])
 * ```
 */
export async function drainQueues(options: DrainQueuesOptions = {}): Promise<JobOutcome[]> {
  const { queues, includeDelayed, maxAttempts } = checkOptions(options);
  const outcomes: JobOutcome[] = [];
  const ranSchedules = new Set<string>();
  for (;;) {
    if (includeDelayed) await promoteDelayed(queues, ranSchedules);
    if (outcomes.length >= maxAttempts) {
      if (!(await anyWaiting(queues))) return outcomes;
      throw new DeferralError('DEFER_ERR_INVALID_OPTION', `drainQueues: the queues did not drain within maxAttempts (${maxAttempts}) attempts; a job that enqueues another forever? Raise maxAttempts if that many jobs are expected`, { option: 'maxAttempts', value: maxAttempts, outcomes });
    }
    const job = await processOneJob({ queues });
    if (!job) return outcomes;
    if (job.repeatJobKey) ranSchedules.add(job.repeatJobKey);
    outcomes.push(await outcomeOf(job));
  }
}
