import { randomBytes } from 'node:crypto';
import type { DeferredJobRecord } from '../entities/deferred-job-record.js';
import { isDeferralError } from '../src/errors.js';
import { getJob, type DeferredJob, type JobSnapshot } from '../src/job/job.js';
import { hasControlChars } from '../src/limits.js';
import { jobsFor } from '../src/outbox/records.js';
import type { Identity, ResolvedDashboardOptions } from './options.js';
import { notFoundPage, progressPage, safeNext } from './page.js';
import { canSee, jobView } from './view.js';
import { schedulesPage, visibleSchedules } from './schedules.js';

/** What a handler sees of a request, whatever the HTTP framework. */
export interface RouteRequest {
  identity: Identity;
  params: Record<string, string>;
  query: Record<string, unknown>;
  headers: Record<string, string | string[] | undefined>;
  /** The plugin's URL prefix, e.g. '/deferred' ('' at the root). */
  basePath: string;
}

/** What a handler answers. */
export interface RouteResponse {
  status: number;
  body: unknown;
  headers?: Record<string, string>;
}

export interface Route {
  method: 'GET' | 'POST';
  url: string;
  handler: (request: RouteRequest, options: ResolvedDashboardOptions) => Promise<RouteResponse>;
}

const NOT_FOUND = (id: string): RouteResponse => ({ status: 404, body: { error: 'not found', id } });

/** The job and its snapshot, if it exists and the caller may see it. Another user's job is "not found". */
export async function visibleJob(id: string, identity: Identity): Promise<{ job: DeferredJob; snapshot: JobSnapshot } | undefined> {
  const job = await getJob(id);
  if (!job) return undefined;
  const snapshot = await job.snapshot();
  return canSee(identity, snapshot) ? { job, snapshot } : undefined;
}

/**
 * True for a state-changing request sent by another site's page (the browser adds the user's
 * credentials to it): refuse those. Use it on your own POST routes beside the dashboard.
 *
 * @example
 * ```ts
 * if (isCrossSite(request.headers)) return reply.code(403).send()
 * ```
 */
export function isCrossSite(headers: RouteRequest['headers']): boolean {
  // Fails closed: a header sent twice (an array), an opaque or unreadable origin counts as cross-site.
  const site = headers['sec-fetch-site'];
  if (site !== undefined && (typeof site !== 'string' || site === 'cross-site')) return true;
  const origin = headers.origin;
  if (origin === undefined) return false;
  if (typeof origin !== 'string' || origin === 'null' || typeof headers.host !== 'string') return true;
  try {
    return new URL(origin).host !== headers.host;
  } catch {
    return true;
  }
}

const isRecordLookup = (text: string) => text.length > 0 && text.length <= 255 && !hasControlChars(text);

/** A job row as the records API shows it (no payload: arguments may hold what other users must not see). */
function recordView(r: DeferredJobRecord) {
  const { id, queue, model, method, state, percent, message, uid, attempts, error, createdAt, scheduledAt, startedAt, finishedAt } = r;
  return { id, queue, model, method, state, percent, message, uid, attempts, error, createdAt, scheduledAt, startedAt, finishedAt };
}

export const routes: Route[] = [
  {
    method: 'GET',
    url: '/api/records/:model/:id/jobs',
    async handler({ identity, params }) {
      // Names and keys no row can have are not looked up (a NUL would reach the query as an SQL error).
      if (!isRecordLookup(params.model) || !isRecordLookup(params.id)) return { status: 404, body: { error: 'not found' } };
      let rows: DeferredJobRecord[];
      try {
        rows = await jobsFor(params.model, params.id, { limit: 200 });
      } catch (err) {
        if (isDeferralError(err, 'DEFER_ERR_UNKNOWN_DATA_SOURCE')) return { status: 404, body: { error: 'no job records for this model (is DeferredJobRecord in the data source?)', model: params.model } };
        throw err;
      }
      const jobs = rows.filter((r) => identity.admin === true || r.uid === String(identity.uid)).map(recordView);
      return { status: 200, body: { model: params.model, id: params.id, jobs } };
    },
  },
  {
    method: 'GET',
    url: '/api/jobs/:id',
    async handler({ identity, params }) {
      const found = await visibleJob(params.id, identity);
      return found ? { status: 200, body: jobView(found.snapshot, identity) } : NOT_FOUND(params.id);
    },
  },
  {
    method: 'POST',
    url: '/api/jobs/:id/cancel',
    async handler({ identity, params, headers }) {
      if (isCrossSite(headers)) return { status: 403, body: { error: 'cross-site request refused' } };
      const found = await visibleJob(params.id, identity);
      if (!found) return NOT_FOUND(params.id);
      const cancelled = await found.job.cancel();
      const state = await found.job.state();
      return { status: cancelled ? 200 : 409, body: { id: params.id, cancelled, state } };
    },
  },
  {
    method: 'GET',
    url: '/api/schedules',
    async handler({ identity }) {
      return { status: 200, body: { schedules: await visibleSchedules(identity) } };
    },
  },
  {
    method: 'GET',
    url: '/schedules',
    async handler({ identity, basePath }, options) {
      const body = schedulesPage(await visibleSchedules(identity), basePath, options.title);
      // No script on this page: nothing but its own inline style may run.
      return { status: 200, body, headers: { 'content-type': 'text/html; charset=utf-8', 'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'self'" } };
    },
  },
  {
    method: 'GET',
    url: '/jobs/:id',
    async handler({ identity, params, query, basePath }, options) {
      const headers = { 'content-type': 'text/html; charset=utf-8' };
      const found = await visibleJob(params.id, identity);
      if (!found) return { status: 404, body: notFoundPage(params.id, options.title), headers };
      const nonce = randomBytes(16).toString('base64');
      const api = `${basePath}/api/jobs/${encodeURIComponent(params.id)}`;
      const body = progressPage({
        view: jobView(found.snapshot, identity), apiUrl: api, eventsUrl: `${api}/events`, cancelUrl: `${api}/cancel`,
        next: safeNext(query.next), timeoutMs: options.pageTimeoutMs, title: options.title, nonce,
      });
      return {
        status: 200,
        body,
        headers: { ...headers, 'content-security-policy': `default-src 'self'; script-src 'nonce-${nonce}'; style-src 'unsafe-inline'; frame-ancestors 'self'` },
      };
    },
  },
];
