import type { Job } from 'bullmq';
import type { DataSource } from 'typeorm';
import { within } from '../time.js';
import { connectionErrorKind } from './transient.js';
import type { OutageOptions } from './worker-options.js';

/** How long the check of a data source may take before it counts as unreachable. */
const PROBE_TIMEOUT_MS = 3_000;

/** True when the data source answers `SELECT 1` in time (an SQL error still means it answered). */
async function answers(dataSource: DataSource): Promise<boolean> {
  let reachable = false;
  const probe = dataSource.query('SELECT 1').then(
    () => { reachable = true; },
    (err: unknown) => { reachable = connectionErrorKind(err) === undefined; },
  );
  return (await within(probe, PROBE_TIMEOUT_MS)) === 'done' && reachable;
}

/**
 * True when `err` says the job's database is unreachable, rather than that the job failed: a
 * connection error from the driver or TypeORM, or a bare socket error (which may come from an HTTP
 * call the method made) while the database does not answer.
 */
export async function isOutage(err: unknown, dataSource: DataSource): Promise<boolean> {
  const kind = connectionErrorKind(err);
  return kind === 'database' || (kind === 'socket' && !(await answers(dataSource)));
}

/** How many times BullMQ started this job without the start ending in a failure or a stall: each was put back. */
export function putBackCount(job: Job): number {
  return Math.max(0, job.attemptsStarted - 1 - job.attemptsMade - (job.stalledCounter ?? 0));
}

/** The wait before a job put back for an outage runs again (doubling, ±20 %), or undefined once its outage retries are spent. */
export function outageDelay(job: Job, outage: Required<OutageOptions>): number | undefined {
  const n = putBackCount(job);
  if (n >= outage.retries) return undefined;
  const base = Math.min(outage.maxDelayMs, outage.delayMs * 2 ** Math.min(n, 30));
  return Math.round(base * (0.8 + Math.random() * 0.4));
}
