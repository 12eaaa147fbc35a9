import type { DeferredJobState } from '../job/job.js';

/** The CLI's exit codes; `status` documents them in its help. */
export const EXIT = {
  ok: 0,
  /** A failed or cancelled job, or a runtime error (Redis unreachable, bad config module). */
  failed: 1,
  usage: 2,
  notFound: 3,
  /** `status` of a job that has not finished: pending, waiting, delayed or active. */
  unfinished: 4,
} as const;

/** What `status` exits with for a job in `state`. */
export function statusExitCode(state: DeferredJobState): number {
  switch (state) {
    case 'completed':
      return EXIT.ok;
    case 'failed':
    case 'cancelled':
      return EXIT.failed;
    case 'unknown':
      return EXIT.notFound;
    default:
      return EXIT.unfinished;
  }
}
