import type { DataSource } from 'typeorm';
import {
  Deferred, DeferredType, HighPriorityDeferred, isDeferralError, LowPriorityDeferred,
  type DeferredJob, type DeferredJobState, type Uid,
} from '../../src/index.js';
import { Customer, Invoice } from './entities.js';
import { bold, cyan, dim, green, heading, red, say, seconds, show, yellow } from './output.js';
import type { SampleData } from './seed.js';

/** How long the demo waits for any one job. */
const RESULT_TIMEOUT_MS = 60_000;
/** The long job spends this long per customer, so there is progress to watch. */
const MS_PER_CUSTOMER = 250;

/** One deferred call of the tour and what it should end with. */
export interface TourJob {
  label: string;
  /** The call, as a reader would write it. */
  call: string;
  expect: 'completed' | 'failed';
  job: DeferredJob<unknown>;
  deferredAt: number;
  /** A remark printed under the summary, once the job has ended. */
  remark?: (outcome: TourOutcome) => Promise<string | undefined>;
}

/** How a job ended. */
export interface TourOutcome extends TourJob {
  state: DeferredJobState;
  value?: unknown;
  error?: unknown;
  finishedAfterMs: number;
  asExpected: boolean;
}

const Countdown = DeferredType({ countdown: 2 });

/** Defers one call of each kind and prints a line for each. */
export async function deferCalls(dataSource: DataSource, uid: Uid, data: SampleData): Promise<TourJob[]> {
  const { customers, invoices } = data;
  const [alice, bob] = customers;
  const byNumber = (n: string) => invoices.find((i) => i.number === n)!;
  const late = ['INV-1003', 'INV-1004', 'INV-1006'].map(byNumber);
  const declined = invoices.find((i) => i.customerId === bob.id && i.number !== 'INV-1002')!;

  const tour: Array<Omit<TourJob, 'job' | 'deferredAt'> & { defer: () => Promise<DeferredJob<unknown>> }> = [
    { label: 'model-level', call: 'Invoice.outstanding()', expect: 'completed',
      defer: () => Deferred(Invoice, dataSource, uid, 'outstanding') },
    { label: 'record-level', call: `${byNumber('INV-1001').number}.send('Thank you!')`, expect: 'completed',
      defer: () => Deferred(byNumber('INV-1001'), dataSource, uid, 'send', 'Thank you!') },
    { label: 'array', call: `[${late.map((i) => i.number).join(', ')}].addLateFee(10)`, expect: 'completed',
      defer: () => Deferred(late, dataSource, uid, 'addLateFee', 10) },
    { label: 'countdown', call: `${byNumber('INV-1002').number}.remind() in 2 s`, expect: 'completed',
      defer: () => Countdown(byNumber('INV-1002'), dataSource, uid, 'remind'),
      remark: async (o) => (o.state === 'completed' ? `The countdown job finished ${seconds(o.finishedAfterMs)} after it was deferred (countdown: 2 s).` : undefined) },
    { label: 'high-queue', call: `${alice.name}.sendPasswordReset()`, expect: 'completed',
      defer: () => HighPriorityDeferred(alice, dataSource, uid, 'sendPasswordReset') },
    { label: 'failing', call: `${declined.number}.charge() with a declined card`, expect: 'failed',
      defer: () => Deferred(declined, dataSource, uid, 'charge'),
      // Read only once every job has ended: on SQLite the worker shares this one connection.
      remark: async (o) => {
        if (o.state !== 'failed') return undefined;
        const now = await dataSource.manager.findOneByOrFail(Invoice, { id: declined.id });
        return `charge() set ${now.number} to "paid" before it threw; the transaction was rolled back, so it is still "${now.status}".`;
      } },
    { label: 'progress', call: `Customer.rebuildStatements(${MS_PER_CUSTOMER})`, expect: 'completed',
      defer: () => LowPriorityDeferred(Customer, dataSource, uid, 'rebuildStatements', MS_PER_CUSTOMER) },
  ];

  heading(`Deferring ${tour.length} calls (as user ${JSON.stringify(uid)})`);
  const labelWidth = Math.max(...tour.map((t) => t.label.length));
  const callWidth = Math.max(...tour.map((t) => t.call.length));
  const jobs: TourJob[] = [];
  for (const { defer, ...rest } of tour) {
    const deferredAt = Date.now();
    const job = await defer();
    const state = await job.state();
    const where = state === 'delayed' ? yellow(`delayed on ${job.queue}, runs in 2 s`) : `${state} on ${job.queue}`;
    say(`  ${rest.label.padEnd(labelWidth)}  ${cyan(rest.call.padEnd(callWidth))}  → ${where}`);
    jobs.push({ ...rest, job, deferredAt });
  }
  return jobs;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Prints the progress of a job every `everyMs` while it waits and runs. */
export async function watchProgress(job: DeferredJob<unknown>, aborted?: AbortSignal, everyMs = 500): Promise<void> {
  heading(`Watching the long job ${dim(job.id)} on ${job.queue}`);
  const deadline = Date.now() + RESULT_TIMEOUT_MS;
  let last = '';
  for (;;) {
    const [state, progress] = await Promise.all([job.state(), job.progress()]);
    if (aborted?.aborted) return;
    const done = state !== 'waiting' && state !== 'delayed' && state !== 'active';
    const line = `  ${`${Math.round(progress.percent)}%`.padStart(4)}  ${state.padEnd(9)} ${progress.message ?? ''}`.trimEnd();
    if (line !== last) say(line);
    last = line;
    if (done || aborted?.aborted || Date.now() > deadline) return;
    await sleep(everyMs);
  }
}

/** Waits for every job and notes how each one ended. */
export async function collectOutcomes(jobs: TourJob[]): Promise<TourOutcome[]> {
  return Promise.all(jobs.map(async (tourJob): Promise<TourOutcome> => {
    let value: unknown;
    let error: unknown;
    try {
      value = await tourJob.job.result({ timeoutMs: RESULT_TIMEOUT_MS });
    } catch (err) {
      error = err;
    }
    const finishedAfterMs = Date.now() - tourJob.deferredAt;
    const state = await tourJob.job.state();
    const asExpected = tourJob.expect === 'completed'
      ? error === undefined && state === 'completed'
      : isDeferralError(error, 'DEFER_ERR_JOB_FAILED') && state === 'failed';
    return { ...tourJob, state, value, error, finishedAfterMs, asExpected };
  }));
}

function describeError(error: unknown): string {
  if (isDeferralError(error, 'DEFER_ERR_JOB_FAILED')) return `${error.code}: ${String(error.details.remoteMessage)}`;
  if (isDeferralError(error)) return `${error.code}: ${error.message}`;
  return error instanceof Error ? error.message : String(error);
}

/** One line per job (id, queue, state, result or error), then what the results show. */
export async function printSummary(outcomes: TourOutcome[]): Promise<void> {
  heading('Summary');
  const labelWidth = Math.max(...outcomes.map((o) => o.label.length));
  for (const o of outcomes) {
    const mark = o.asExpected ? green('✔') : red('✘');
    const state = (o.state === 'completed' ? green : o.state === 'failed' ? red : yellow)(o.state.padEnd(9));
    const what = o.error === undefined ? `→ ${show(o.value)}` : `${red('error')} ${describeError(o.error)}${o.expect === 'failed' ? dim(' (on purpose)') : ''}`;
    say(`  ${mark} ${o.label.padEnd(labelWidth)}  ${o.job.queue.padEnd(7)}  ${state}  ${dim(o.job.id)}  ${what}`);
  }

  const remarks: string[] = [];
  for (const o of outcomes) {
    const remark = await o.remark?.(o);
    if (remark) remarks.push(remark);
  }
  if (remarks.length) say();
  for (const remark of remarks) say(`  ${remark}`);
}

/** Prints the verdict; true when every job ended as expected. */
export function verdict(outcomes: TourOutcome[]): boolean {
  const completed = outcomes.filter((o) => o.state === 'completed').length;
  const failedOnPurpose = outcomes.filter((o) => o.expect === 'failed' && o.asExpected).length;
  const unexpected = outcomes.filter((o) => !o.asExpected);
  say();
  if (unexpected.length === 0) {
    say(bold(green(`All ${outcomes.length} jobs ended as expected: ${completed} completed, ${failedOnPurpose} failed on purpose.`)));
    return true;
  }
  say(bold(red(`${unexpected.length} job(s) did not end as expected: ${unexpected.map((o) => o.label).join(', ')}.`)));
  return false;
}
