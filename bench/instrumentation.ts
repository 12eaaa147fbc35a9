// The CPU cost per attempt of what the worker adds for operators (the consumer span, the log
// record, the metrics), apart from everything else: JobRun around a job that does nothing, with
// metrics off and on, in one process. Run: npm run build && node dist/bench/instrumentation.js
import type { Job } from 'bullmq';
import { Registry } from 'prom-client';
import { closeDeferred, configure } from '../src/index.js';
import { JobRun } from '../src/worker/job-run.js';
import { deferredMetrics, type DeferredMetrics } from '../src/observe/metrics.js';
import { resolveWorkerOptions } from '../src/worker/worker-options.js';

const N = Number(process.env.BENCH_N ?? 200_000);
const o = resolveWorkerOptions({});
const job = { id: 'bench', name: 'BenchItem.noop', attemptsMade: 0, attemptsStarted: 1, timestamp: Date.now(), delay: 0, opts: { attempts: 1 }, data: {} } as unknown as Job;

/** CPU µs per attempt of `n` attempts (after a warm-up). */
async function perAttempt(metrics: DeferredMetrics | undefined, n: number): Promise<number> {
  for (let i = 0; i < n / 10; i++) await new JobRun(job, 'default', o, metrics).run(async () => null);
  const start = process.cpuUsage();
  for (let i = 0; i < n; i++) await new JobRun(job, 'default', o, metrics).run(async () => null);
  const used = process.cpuUsage(start);
  return (used.user + used.system) / n;
}

configure({ dataSources: {}, metrics: { registry: new Registry() } });
const metrics = await deferredMetrics();
const rows: Array<[string, number[]]> = [['metrics off', []], ['metrics on', []]];
// Interleaved, three times each: the machine's load drifts.
for (let rep = 0; rep < 3; rep++) {
  rows[0]![1].push(await perAttempt(undefined, N));
  rows[1]![1].push(await perAttempt(metrics, N));
}
for (const [label, values] of rows) {
  const sorted = [...values].sort((a, b) => a - b);
  console.log(`${label.padEnd(12)} median ${sorted[1]!.toFixed(2)} µs CPU per attempt (${sorted.map((v) => v.toFixed(2)).join(', ')}), ${N} attempts per run`);
}
console.log('with @opentelemetry/api installed and no SDK registered (its spans are no-ops); an SDK adds its own cost per span');
await closeDeferred();
