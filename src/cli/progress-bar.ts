import type { JobSnapshot } from '../job/job.js';

const BAR_WIDTH = 24;

/**
 * A job's progress as one terminal line: `active    [######..................]  25%  step 1 of 4`,
 * cut to `columns - 1` characters so that `\r` can rewrite it (a wrapped line cannot be).
 */
export function renderProgress(s: Pick<JobSnapshot, 'state' | 'percent' | 'message'>, columns?: number): string {
  const percent = Math.max(0, Math.min(100, Math.round(s.percent)));
  const filled = Math.round((percent / 100) * BAR_WIDTH);
  const bar = `[${'#'.repeat(filled)}${'.'.repeat(BAR_WIDTH - filled)}]`;
  const line = `${s.state.padEnd(9)} ${bar} ${`${percent}%`.padStart(4)}${s.message ? `  ${s.message.replace(/\s+/g, ' ')}` : ''}`;
  // A terminal that does not tell its width (0, as a bare pty) is taken as 80 columns.
  const max = Math.max((columns || 80) - 1, 20);
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
}
