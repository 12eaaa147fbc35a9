import type { Job } from 'bullmq';
import { getConfig } from '../config.js';
import { producerRedis } from '../queues.js';
import type { AttemptOutcome } from '../worker/job-run.js';
import { lastRunsKey } from './schedule-store.js';

/** A schedule's last job: its id, when its attempt started, and how the attempt ended. */
export interface LastRun {
  jobId: string;
  at: Date;
  state: Exclude<AttemptOutcome, 'put back'>;
}

/**
 * Keeps the last run of the schedule that made `job` (one HSET, for scheduled jobs only). Never
 * fails the job: the outcome of work that is done does not depend on this note.
 */
export async function noteLastRun(job: Job, outcome: AttemptOutcome, startedAt: number): Promise<void> {
  if (!job.repeatJobKey || outcome === 'put back') return;
  const run = { jobId: job.id, at: startedAt, state: outcome };
  await producerRedis().hset(lastRunsKey(getConfig().prefix), job.repeatJobKey, JSON.stringify(run)).catch(() => undefined);
}
