import type { DeferredJob, DeferredJobState, JobSnapshot } from '../job/job.js';
import { sleep } from '../time.js';

const ENDED: ReadonlySet<DeferredJobState> = new Set(['completed', 'failed', 'cancelled', 'unknown']);

/**
 * Reads a job's snapshot every `intervalMs` until it has ended (or vanished: `unknown`), calling
 * `onChange` with the first snapshot and each one that differs from the last. Resolves the last.
 */
export async function followJob(job: DeferredJob, onChange: (s: JobSnapshot) => void, intervalMs = 250): Promise<JobSnapshot> {
  let last: string | undefined;
  for (;;) {
    const s = await job.snapshot();
    const text = JSON.stringify(s);
    if (text !== last) {
      last = text;
      onChange(s);
    }
    if (ENDED.has(s.state)) return s;
    await sleep(intervalMs);
  }
}
