import type { EntityManager } from 'typeorm';
import { encodeResult, parsePayload } from '../src/call/call.js';
import { runInJob, type JobContext } from '../src/worker/context.js';
import { buildPayload, prepareCall } from '../src/call/invoke.js';
import { AttemptAbort } from '../src/worker/attempt-abort.js';
import { ProgressReporter } from '../src/worker/progress.js';
import { UID } from './payload.js';
import type { BenchDb } from './services.js';
import { median, microsPerCall } from './stats.js';

/** One measured piece of a job's life, in µs per call. */
export interface Piece {
  label: string;
  micros: number;
}

/** The median of three timed passes. */
async function measure(iterations: number, fn: () => unknown): Promise<number> {
  const passes: number[] = [];
  for (let i = 0; i < 3; i++) passes.push(await microsPerCall(iterations, fn));
  return median(passes);
}

/**
 * Times, one call at a time and without Redis, the steps the library adds around
 * a job (these are internal functions of src/, called the way deferred.ts and
 * worker.ts call them), and the database work a record-level job does.
 */
export async function breakdown(dbs: BenchDb[], iterations: number): Promise<Piece[]> {
  const [first] = dbs;
  const opts = { transaction: true, skipMissing: false };
  const named = { name: 'main', dataSource: first.dataSource };
  // As a worker receives it: parsed back from JSON.
  const stored = JSON.parse(JSON.stringify(buildPayload(first.record, named, UID, 'noop', [], opts))) as unknown;
  const sink = { updateProgress: async () => undefined, log: async () => 0 };
  // As the worker builds it: the AbortSignal is only made if the method asks for it.
  const context = (manager: EntityManager, abort: AttemptAbort): JobContext => ({
    id: 'x', queue: 'default', uid: UID, attempt: 1, manager, dataSource: first.dataSource,
    get signal() { return abort.signal; }, reportProgress: () => undefined, log: () => undefined,
  });

  const pieces: Piece[] = [
    { label: 'enqueue: buildPayload (primary key, @Deferrable check, superjson args)', micros: await measure(iterations, () => buildPayload(first.record, named, UID, 'noop', [], opts)) },
    { label: 'worker: parsePayload + prepareCall (checks, superjson decode)', micros: await measure(iterations, () => prepareCall(parsePayload(stored), { main: first.dataSource })) },
    { label: 'worker: encodeResult(null) (superjson)', micros: await measure(iterations, () => encodeResult(null)) },
    {
      label: 'worker: job context (AttemptAbort, AsyncLocalStorage, ProgressReporter + flush)',
      micros: await measure(iterations, async () => {
        const abort = new AttemptAbort();
        const reporter = new ProgressReporter(sink, 200);
        await runInJob(context(first.dataSource.manager, abort), async () => null);
        await reporter.flush();
      }),
    },
  ];
  for (const db of dbs) {
    const { dataSource, record } = db;
    const prepared = prepareCall(parsePayload(stored), { main: dataSource });
    // PostgreSQL calls cost a round trip or three each: fewer of them keep the run short.
    const dbIterations = Math.max(100, Math.round(iterations / (db.kind === 'SQLite' ? 5 : 30)));
    pieces.push(
      { label: `${db.kind}: empty transaction (BEGIN + COMMIT)`, micros: await measure(dbIterations, () => dataSource.transaction(async () => null)) },
      { label: `${db.kind}: findOneBy primary key, no transaction`, micros: await measure(dbIterations, () => dataSource.manager.findOneBy('BenchItem', { id: record.id })) },
      { label: `${db.kind}: a job's database work (transaction + reload + noop)`, micros: await measure(dbIterations, () => dataSource.transaction((m) => runInJob(context(m, new AttemptAbort()), () => prepared.run(m)))) },
    );
  }
  return pieces;
}

/** ns per `await` of a resolved promise, over many of them. */
async function nanosPerAwait(): Promise<number> {
  const loop = async (n: number) => {
    let x = 0;
    for (let i = 0; i < n; i++) x += await Promise.resolve(i);
    return x;
  };
  await loop(100_000);
  const passes: number[] = [];
  for (let p = 0; p < 3; p++) {
    const t0 = performance.now();
    await loop(500_000);
    passes.push(((performance.now() - t0) * 1e6) / 500_000);
  }
  return median(passes);
}

/**
 * The process-wide cost of the job context: on Node 20, the first
 * AsyncLocalStorage.run() (our runInJob, once per job) turns on promise hooks
 * that then slow every promise of the process. Must run before any job does.
 */
export async function promiseHookCost(): Promise<{ before: number; after: number }> {
  const before = await nanosPerAwait();
  const idle = new AttemptAbort();
  runInJob({ id: 'x', queue: 'default', uid: UID, attempt: 1, manager: undefined as never, dataSource: undefined as never, get signal() { return idle.signal; }, reportProgress: () => undefined, log: () => undefined }, () => null);
  const after = await nanosPerAwait();
  return { before, after };
}
