import { describeTarget, describeWhen } from '../src/schedule/describe.js';
import { listSchedules, type ScheduleInfo } from '../src/schedule/schedule.js';
import type { Identity } from './options.js';
import { escapeHtml, STYLE } from './page.js';

/** A schedule as the dashboard shows it: dates as ISO strings; the records' keys for admins and the schedule's own user only. */
export interface ScheduleView {
  name: string;
  queue: string;
  when: ScheduleInfo['when'];
  target: ScheduleInfo['target'];
  origin: ScheduleInfo['origin'];
  next?: string;
  iterations?: number;
  limit?: number;
  startDate?: string;
  endDate?: string;
  last?: { jobId: string; at: string; state: string };
}

/** The schedules this identity may see: admins all, others those that run as their uid. */
export async function visibleSchedules(identity: Identity): Promise<ScheduleView[]> {
  const all = await listSchedules();
  return all.filter((s) => identity.admin === true || String(s.target.uid) === String(identity.uid)).map((s) => ({
    name: s.name, queue: s.queue, when: s.when, target: s.target, origin: s.origin,
    ...(s.next ? { next: s.next.toISOString() } : {}),
    ...(s.iterations !== undefined ? { iterations: s.iterations } : {}),
    ...(s.limit !== undefined ? { limit: s.limit } : {}),
    ...(s.startDate ? { startDate: s.startDate.toISOString() } : {}),
    ...(s.endDate ? { endDate: s.endDate.toISOString() } : {}),
    ...(s.last ? { last: { jobId: s.last.jobId, at: s.last.at.toISOString(), state: s.last.state } } : {}),
  }));
}

/** The schedules page: one row per schedule, its next run, and its last job linked to that job's progress page. */
export function schedulesPage(views: ScheduleView[], basePath: string, title: string): string {
  const row = (s: ScheduleView) => {
    const last = s.last
      ? `<a href="${escapeHtml(`${basePath}/jobs/${encodeURIComponent(s.last.jobId)}`)}">${escapeHtml(s.last.state)}</a> ${escapeHtml(s.last.at)}`
      : '—';
    return `<tr data-name="${escapeHtml(s.name)}"><td>${escapeHtml(s.name)}</td><td>${escapeHtml(describeWhen(s.when))}</td><td>${escapeHtml(describeTarget(s.target))}</td>`
      + `<td>${escapeHtml(s.queue)}</td><td class="next">${escapeHtml(s.next ?? 'ended')}</td><td class="last">${last}</td></tr>`;
  };
  const table = views.length
    ? `<table><thead><tr><th>Name</th><th>When</th><th>Runs</th><th>Queue</th><th>Next run</th><th>Last run</th></tr></thead><tbody>${views.map(row).join('')}</tbody></table>`
    : '<p id="none">No schedules that you can see.</p>';
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Schedules · ${escapeHtml(title)}</title><style>${STYLE}
  main.wide { max-width: 1100px; } table { border-collapse: collapse; width: 100%; font-size: 14px; }
  th, td { text-align: left; padding: 6px 8px; border-bottom: 1px solid #e4e7ec; vertical-align: top; }</style></head>
<body><main class="wide"><h1>Schedules</h1><p class="sub">${views.length} schedule${views.length === 1 ? '' : 's'} · times in UTC</p>${table}</main></body></html>`;
}
