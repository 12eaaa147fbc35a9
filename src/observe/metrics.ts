import type * as PromClient from 'prom-client';
import { In } from 'typeorm';
import { DeferredJobRecord } from '../../entities/deferred-job-record.js';
import { getConfig } from '../config.js';
import { QUEUE_NAMES } from '../options.js';
import { producerQueue } from '../queues.js';
import { recordingSources } from '../outbox/records.js';

/**
 * A prom-client `Registry` (structurally: prom-client stays an optional peer, so its types are not
 * required to compile against this library).
 */
export interface MetricsRegistry {
  metrics(): Promise<string>;
  readonly contentType: string;
  getSingleMetric(name: string): unknown;
}

/** `configure({ metrics })`: where the library's metrics go, or `false` for none. */
export type MetricsSetting = false | { registry?: MetricsRegistry };

type Labels = Record<string, string>;
interface CounterLike { inc(labels: Labels): void }
interface HistogramLike { observe(labels: Labels, value: number): void }

/** The library's metrics in one registry. Labels are `queue`, `call` and outcome only: never ids or uids. */
export interface DeferredMetrics {
  registry: MetricsRegistry;
  enqueued: CounterLike;
  completed: CounterLike;
  failed: CounterLike;
  retried: CounterLike;
  stalled: CounterLike;
  wait: HistogramLike;
  duration: HistogramLike;
}

// BullMQ's own names for the states a job can be in.
const STATES = ['wait', 'prioritized', 'active', 'delayed', 'waiting-children', 'completed', 'failed'] as const;
const WAIT_BUCKETS = [0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600];
const DURATION_BUCKETS = [0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];

let prom: Promise<typeof PromClient | undefined> | undefined;
const built = new WeakMap<MetricsRegistry, DeferredMetrics>();

/** prom-client, or undefined when the application did not install it (metrics are then off). */
function loadPromClient(): Promise<typeof PromClient | undefined> {
  return (prom ??= import('prom-client').then((m) => ((m as unknown as { default?: typeof PromClient }).default ?? m), () => undefined));
}

/** A metric of this registry: the one already there (two configurations, two copies of the library), else a new one. */
function metric<T>(registry: MetricsRegistry, name: string, make: () => T): T {
  return (registry.getSingleMetric(name) as T | undefined) ?? make();
}

/** Queue sizes and the age of the oldest waiting job, read from Redis at scrape time. */
async function collectQueues(jobs: PromClient.Gauge, oldest: PromClient.Gauge): Promise<void> {
  for (const queue of QUEUE_NAMES) {
    const q = producerQueue(queue);
    const counts = await q.getJobCounts(...STATES);
    for (const state of STATES) jobs.set({ queue, state }, counts[state] ?? 0);
    // The wait list is pushed at its head: its tail is the job that has waited longest.
    const [first] = await q.getJobs(['wait'], 0, 0, true);
    oldest.set({ queue }, first ? Math.max(0, Date.now() - first.timestamp - (first.delay ?? 0)) / 1000 : 0);
  }
}

/** Rows of the job table not yet known to be in Redis: pushed after their commit (until a relay round or the job's completion says so), or waiting for a relay. */
async function collectOutbox(pending: PromClient.Gauge, oldest: PromClient.Gauge): Promise<void> {
  let count = 0;
  let first: string | undefined;
  for (const ds of recordingSources()) {
    const row = await ds.manager.createQueryBuilder(DeferredJobRecord, 'r')
      .select('COUNT(*)', 'n').addSelect('MIN(r.createdAt)', 'oldest')
      .where({ state: In(['pending', 'relaying']) })
      .getRawOne<{ n: string | number; oldest: string | null }>();
    count += Number(row?.n ?? 0);
    if (row?.oldest && (!first || row.oldest < first)) first = row.oldest;
  }
  pending.set(count);
  oldest.set(first ? Math.max(0, Date.now() - Date.parse(first)) / 1000 : 0);
}

function build(p: typeof PromClient, registry: MetricsRegistry): DeferredMetrics {
  const registers = [registry as PromClient.Registry];
  const counter = (name: string, help: string, labelNames: string[]) =>
    metric(registry, name, () => new p.Counter({ name, help, labelNames, registers }));
  const histogram = (name: string, help: string, labelNames: string[], buckets: number[]) =>
    metric(registry, name, () => new p.Histogram({ name, help, labelNames, buckets, registers }));
  // The registry reads its gauges concurrently, each running its collect(): a pair of gauges
  // shares one read per scrape. Redis or the database down leaves them as they were rather
  // than failing the scrape.
  const pair = (a: { name: string; help: string; labelNames: string[] }, b: { name: string; help: string; labelNames: string[] }, read: (a: PromClient.Gauge, b: PromClient.Gauge) => Promise<void>) => {
    if (registry.getSingleMetric(a.name)) return;
    let running: Promise<void> | undefined;
    const collect = () => (running ??= read(first, second).catch(() => undefined).finally(() => { running = undefined; }));
    const first: PromClient.Gauge = new p.Gauge({ ...a, registers, collect });
    const second: PromClient.Gauge = new p.Gauge({ ...b, registers, collect });
  };
  pair({ name: 'deferred_queue_jobs', help: 'Jobs in each queue, by BullMQ state', labelNames: ['queue', 'state'] },
    { name: 'deferred_queue_oldest_waiting_seconds', help: 'How long the oldest job of the wait list has been due', labelNames: ['queue'] }, collectQueues);
  pair({ name: 'deferred_outbox_pending', help: 'Job table rows whose job is not yet known to be in Redis (pending or relaying; relay rounds check those older than olderThanMs)', labelNames: [] },
    { name: 'deferred_outbox_oldest_pending_seconds', help: 'Age of the oldest such row: well above the relay\'s olderThanMs plus its interval, jobs are not reaching Redis', labelNames: [] }, collectOutbox);
  return {
    registry,
    enqueued: counter('deferred_jobs_enqueued_total', 'Jobs put on a queue', ['queue', 'call']),
    completed: counter('deferred_jobs_completed_total', 'Jobs completed', ['queue', 'call']),
    failed: counter('deferred_jobs_failed_total', 'Failed attempts; final="true" when the job will not run again', ['queue', 'call', 'final']),
    retried: counter('deferred_jobs_retried_total', 'Failed attempts that will be retried', ['queue', 'call']),
    stalled: counter('deferred_jobs_stalled_total', 'Jobs taken back from a worker that died or lost its lock', ['queue', 'call']),
    wait: histogram('deferred_job_wait_seconds', 'From the moment a job was due to the start of its first attempt', ['queue', 'call'], WAIT_BUCKETS),
    duration: histogram('deferred_job_duration_seconds', 'Duration of one attempt', ['queue', 'call', 'outcome'], DURATION_BUCKETS),
  };
}

/**
 * The library's metrics in the configured registry (prom-client's default one unless
 * `configure({ metrics: { registry } })`), or undefined when metrics are off or prom-client is not installed.
 */
export async function deferredMetrics(): Promise<DeferredMetrics | undefined> {
  const setting = getConfig().metrics;
  if (setting === false) return undefined;
  const p = await loadPromClient();
  promClient = p ?? null;
  return p ? metricsIn(p, setting.registry ?? p.register) : undefined;
}

// prom-client once its import settled (null: not installed), so counting on the hot path needs no await.
let promClient: typeof PromClient | null | undefined;

function metricsIn(p: typeof PromClient, registry: MetricsRegistry): DeferredMetrics {
  let m = built.get(registry);
  if (!m) built.set(registry, (m = build(p, registry)));
  return m;
}

/** {@link deferredMetrics} without an await once prom-client's import has settled; 'loading' before that. */
export function deferredMetricsNow(): DeferredMetrics | undefined | 'loading' {
  const setting = getConfig().metrics;
  if (setting === false) return undefined;
  if (promClient === undefined) return 'loading';
  return promClient ? metricsIn(promClient, setting.registry ?? promClient.register) : undefined;
}

/**
 * A `call` label: our job names are `Model.method` or a task name; a name with spaces, control
 * characters or over 200 characters (a job written by someone else) is `unknown`.
 */
export function callLabel(name: string | undefined): string {
  return name && name.length <= 200 && /^[\w$.:@/-]+$/.test(name) ? name : 'unknown';
}
