import { DeferralError } from '../errors.js';
import { QUEUE_NAMES, show, type QueueName } from '../options.js';
import { deleteFinishedRows, recordingSources } from '../outbox/records.js';
import { readyProducerQueue } from '../queues.js';

/**
 * The finished states `cleanJobs()` removes. A cancelled job is a BullMQ failed job (its error
 * is DEFER_ERR_CANCELLED), so `'failed'` covers cancelled jobs, and their `cancelled` rows too.
 */
export type CleanState = 'completed' | 'failed';
export const CLEAN_STATES: readonly CleanState[] = ['completed', 'failed'];

/** What `cleanJobs()` takes. */
export interface CleanJobsOptions {
  /** Removes jobs that finished more than this many ms ago (0: every finished job). */
  olderThanMs: number;
  /** Which finished jobs: `'completed'`, `'failed'` (cancelled jobs included), or both. */
  states: CleanState[];
  /** @defaultValue every queue */
  queues?: QueueName[];
  /** Jobs (and rows) removed per Redis call or SQL statement, so a big backlog never blocks Redis for long. @defaultValue `1000` */
  batchSize?: number;
}

/** What `cleanJobs()` removed. */
export interface CleanJobsResult {
  /** BullMQ jobs removed from Redis. */
  removed: number;
  /** Rows removed from the job table (DeferredJobRecord), over every data source that has it. */
  rows: number;
}

export const DEFAULT_CLEAN_BATCH = 1000;
// BullMQ's clean() removes at most 10 000 jobs per script call, whatever the limit.
const MAX_CLEAN_BATCH = 10_000;
// The row states each state a user names covers.
const ROW_STATES: Record<CleanState, string[]> = { completed: ['completed'], failed: ['failed', 'cancelled'] };

function invalid(option: string, value: unknown, why: string): DeferralError {
  return new DeferralError('DEFER_ERR_INVALID_OPTION', `Invalid cleanJobs() option ${option}: ${show(value)} ${why}`, { option, value });
}

/** Checks the options (DEFER_ERR_INVALID_OPTION naming the first bad one); returns them with defaults. */
export function validateCleanOptions(options: unknown): Required<CleanJobsOptions> {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) throw invalid('options', options, 'must be an object { olderThanMs, states, queues? }');
  const { olderThanMs, states, queues = [...QUEUE_NAMES], batchSize = DEFAULT_CLEAN_BATCH } = options as Record<string, unknown>;
  if (!(typeof olderThanMs === 'number' && Number.isFinite(olderThanMs) && olderThanMs >= 0)) throw invalid('olderThanMs', olderThanMs, 'must be a finite number of milliseconds ≥ 0');
  if (!Array.isArray(states) || states.length === 0) throw invalid('states', states, `must be a non-empty array of ${CLEAN_STATES.map((s) => `'${s}'`).join(', ')}`);
  for (const s of states) {
    if (s === 'cancelled') throw invalid('states', states, "names 'cancelled': a cancelled job is a failed job (DEFER_ERR_CANCELLED), name 'failed' to remove it");
    if (!CLEAN_STATES.includes(s as CleanState)) throw invalid('states', states, `must contain only ${CLEAN_STATES.map((x) => `'${x}'`).join(', ')} (waiting, delayed and active jobs are never cleaned)`);
  }
  if (!Array.isArray(queues) || queues.length === 0 || !queues.every((q) => QUEUE_NAMES.includes(q as QueueName))) {
    throw invalid('queues', queues, `must be a non-empty array of ${QUEUE_NAMES.join(', ')}`);
  }
  if (!(Number.isSafeInteger(batchSize) && (batchSize as number) >= 1 && (batchSize as number) <= MAX_CLEAN_BATCH)) {
    throw invalid('batchSize', batchSize, `must be a whole number from 1 to ${MAX_CLEAN_BATCH}`);
  }
  return { olderThanMs, states: [...new Set(states as CleanState[])], queues: [...new Set(queues as QueueName[])], batchSize: batchSize as number };
}

/** Removes the jobs of one BullMQ set finished at or before `cutoff`, `batch` per script call. */
async function cleanQueue(queue: QueueName, state: CleanState, cutoff: number, batch: number): Promise<number> {
  const bull = await readyProducerQueue(queue);
  let removed = 0;
  for (;;) {
    // Queue.clean(grace, limit) stops after `limit` jobs: one short script per call, so other clients get Redis in between.
    const ids = await bull.clean(Math.max(0, Date.now() - cutoff), batch, state);
    removed += ids.length;
    if (ids.length < batch) return removed;
  }
}

/**
 * Removes finished jobs (completed, failed; cancelled jobs are failed ones) that finished more than
 * `olderThanMs` ago from Redis and, on each open data source with the job table, their rows.
 * Waiting, delayed and active jobs are never touched. Works in batches of `batchSize`.
 *
 * @example
 * ```ts
 * const { removed, rows } = await cleanJobs({ olderThanMs: 7 * 86_400_000, states: ['completed', 'failed'] })
 * ```
 */
export async function cleanJobs(options: CleanJobsOptions): Promise<CleanJobsResult> {
  const { olderThanMs, states, queues, batchSize } = validateCleanOptions(options);
  const cutoff = Date.now() - olderThanMs;
  let removed = 0;
  for (const queue of queues) {
    for (const state of states) removed += await cleanQueue(queue, state, cutoff, batchSize);
  }
  const rowStates = states.flatMap((s) => ROW_STATES[s]);
  let rows = 0;
  for (const ds of recordingSources()) rows += await deleteFinishedRows(ds, { states: rowStates, queues, cutoff, batch: batchSize });
  return { removed, rows };
}
