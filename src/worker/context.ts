import { AsyncLocalStorage } from 'node:async_hooks';
import type { DataSource, EntityManager } from 'typeorm';
import type { Uid } from '../call/call.js';
import type { QueueName } from '../options.js';
import type { ProgressReport } from './progress.js';

/** What a running deferred method can know about its job. */
export interface JobContext {
  /** The BullMQ job id. */
  id: string;
  queue: QueueName;
  /** The user the job runs for. */
  uid: Uid;
  /** 1 on the first attempt. */
  attempt: number;
  /** The transaction's EntityManager (the data source's manager when `transaction: false`). */
  manager: EntityManager;
  dataSource: DataSource;
  /** Aborted when the job times out or the worker shuts down past its grace period. */
  signal: AbortSignal;
  reportProgress(report: ProgressReport): void;
  /** Adds a line to the job log (shown in bull-board). */
  log(line: string): void;
}

const storage = new AsyncLocalStorage<JobContext>();

/**
 * The job the calling code runs in, or undefined outside a worker.
 *
 * @example
 * ```ts
 * @Deferrable() async recompute() { const { manager, uid } = currentJob()!; … }
 * ```
 */
export function currentJob(): JobContext | undefined {
  return storage.getStore();
}

/** Runs `fn` with `ctx` as the current job. */
export function runInJob<T>(ctx: JobContext, fn: () => T): T {
  return storage.run(ctx, fn);
}

/**
 * Reports progress of the current job; a no-op outside a job.
 *
 * @example
 * ```ts
 * reportProgress({ message: 'Sending mails', progress: 40, valuemax: 200 })
 * ```
 */
export function reportProgress(report: ProgressReport): void {
  storage.getStore()?.reportProgress(report);
}

/** Options of {@link iterAndReport}. */
export interface IterAndReportOptions {
  /** How many items there are (progress reaches 100 % at that count). */
  valuemax: number;
  /** Report every this many items. @defaultValue `1` (writes are throttled anyway) */
  every?: number;
  /** The message to report. @defaultValue none */
  message?: string;
}

/**
 * Yields the items of `iterable`, reporting progress as it goes.
 *
 * @example
 * ```ts
 * for await (const order of iterAndReport(orders, { valuemax: orders.length, message: 'Invoicing' })) await order.invoice()
 * ```
 */
export async function* iterAndReport<T>(iterable: Iterable<T> | AsyncIterable<T>, options: IterAndReportOptions): AsyncGenerator<T> {
  const every = Math.max(1, Math.floor(options.every ?? 1));
  let done = 0;
  reportProgress({ message: options.message, progress: 0, valuemax: options.valuemax });
  for await (const item of iterable) {
    yield item;
    done += 1;
    if (done % every === 0) reportProgress({ message: options.message, progress: done, valuemax: options.valuemax });
  }
  reportProgress({ message: options.message, progress: done, valuemax: options.valuemax });
}
