import { toJsonView } from '../src/call/call.js';
import type { DeferredJobState, JobSnapshot } from '../src/job/job.js';
import type { Identity } from './options.js';

/** A job as the job API, the live stream and the progress page show it. */
export interface JobView {
  id: string;
  queue: string;
  name?: string;
  state: DeferredJobState;
  /** True once the job will not change any more. */
  done: boolean;
  percent: number;
  message?: string;
  /** The decoded return value as JSON (Dates as ISO strings, Maps and Sets as arrays). */
  result?: unknown;
  /** The failure; the stack only for admins. */
  error?: { message: string; code?: string; stack?: string };
  uid?: string | number;
  attemptsMade: number;
  attempts: number;
  createdAt?: string;
  runAt?: string;
  startedAt?: string;
  finishedAt?: string;
}

const TERMINAL: ReadonlySet<DeferredJobState> = new Set(['completed', 'failed', 'cancelled', 'unknown']);

/** True for a state a job never leaves. */
export const isDone = (state: DeferredJobState) => TERMINAL.has(state);

/** May this identity see this job? Admins see all; others only their own uid's. */
export function canSee(identity: Identity, snapshot: Pick<JobSnapshot, 'uid'>): boolean {
  return identity.admin === true || (snapshot.uid !== undefined && String(snapshot.uid) === String(identity.uid));
}

export function jobView(s: JobSnapshot, identity: Identity): JobView {
  const iso = (d: Date | undefined) => d?.toISOString();
  const view: JobView = {
    id: s.id, queue: s.queue, name: s.name, state: s.state, done: isDone(s.state), percent: s.percent, message: s.message,
    uid: s.uid, attemptsMade: s.attemptsMade, attempts: s.attempts,
    createdAt: iso(s.createdAt), runAt: iso(s.runAt), startedAt: iso(s.startedAt), finishedAt: iso(s.finishedAt),
  };
  if (s.state === 'completed') view.result = toJsonView(s.result);
  if (s.error) view.error = { message: s.error.message, code: s.error.code, ...(identity.admin ? { stack: s.error.stack } : {}) };
  return view;
}
