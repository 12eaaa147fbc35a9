/**
 * typeorm-deferred against raw BullMQ and against the BullMQ + TypeORM worker a user would write
 * by hand, side by side in one process on one Redis.
 * `npm run bench`; BENCH_N (enqueue jobs per run, default 2000; drains use half),
 * BENCH_DRAIN_N, BENCH_REPS (default 5), BENCH_CONCURRENCY (the drains' worker concurrencies,
 * comma-separated, default 1,10,50), BENCH_ONLY (run only the scenarios whose name contains one
 * of its `|`-separated parts, case-insensitive; `counts` selects the counted costs, `breakdown` the
 * breakdown), BENCH_COUNTS_N (jobs per side in the counts, default 200). MariaDB (MARIADB_URL) is
 * optional: when it does not answer, its scenarios are skipped. See BENCHMARKS.md.
 */
import 'reflect-metadata';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { closeDeferred } from '../src/index.js';
import { breakdown, promiseHookCost } from './breakdown.js';
import { BenchContext } from './context.js';
import { countCosts, countKinds } from './counts.js';
import { oursDrain, rawDrain, type OursVariant } from './drain.js';
import { enqueueTrial, storedPayloads, type Trial } from './enqueue.js';
import { handDrain } from './handwritten.js';
import { MARIADB_URL, oneLine, openMariadb, openPostgres, openSqlite, REDIS_URL, type BenchDb } from './services.js';
import { fmtMicros, fmtRate, fmtRatio, median, positiveInt, rotate, table, type Measure } from './stats.js';

/** The drains' worker concurrencies: a comma-separated list of whole numbers ≥ 1. */
function concurrencies(raw: string): number[] {
  const list = raw.split(',').map((part) => Number(part.trim()));
  if (list.length === 0 || list.some((n) => !Number.isInteger(n) || n < 1)) throw new Error(`BENCH_CONCURRENCY must list whole numbers ≥ 1 separated by commas, not ${JSON.stringify(raw)}`);
  return [...new Set(list)];
}

const ENQUEUE_N = positiveInt('BENCH_N', 2000);
const DRAIN_N = positiveInt('BENCH_DRAIN_N', Math.max(1, Math.round(ENQUEUE_N / 2)));
const REPS = positiveInt('BENCH_REPS', 5);
const ENQUEUE_IN_FLIGHT = 50;
const CONCURRENCY = concurrencies(process.env.BENCH_CONCURRENCY ?? '1,10,50');
const COUNTS_N = positiveInt('BENCH_COUNTS_N', 200);
const ONLY = (process.env.BENCH_ONLY ?? '').split('|').map((part) => part.trim().toLowerCase()).filter(Boolean);

/** True when BENCH_ONLY is unset or `name` contains one of its parts. */
const selected = (name: string) => ONLY.length === 0 || ONLY.some((part) => name.toLowerCase().includes(part));

/**
 * Three sides measured side by side for the same n: ours, raw BullMQ and the hand-written
 * BullMQ + TypeORM worker; `turn` rotates the order the sides run in.
 */
interface Scenario {
  name: string;
  n: number;
  warmupN: number;
  /** Its data source could not be opened (MariaDB is optional): named, so BENCH_ONLY still matches it, never run. */
  skipped?: boolean;
  trial(n: number, turn: number): Promise<Trial>;
}

interface Samples {
  ours: Measure[];
  raw: Measure[];
  hand: Measure[];
  /** ours/raw per trial. */
  ratio: number[];
  /** ours/hand-written per trial. */
  handRatio: number[];
}

const version = (pkg: string) => (JSON.parse(readFileSync(new URL(`../../node_modules/${pkg}/package.json`, import.meta.url), 'utf8')) as { version: string }).version;
const log = (line: string) => process.stderr.write(`${line}\n`);

/** Runs the three drains one after the other, in the order rotated by `turn`. */
async function drainTrial(sides: { [K in keyof Trial]: () => Promise<Measure> }, turn: number): Promise<Trial> {
  const got: Partial<Trial> = {};
  for (const key of rotate(['ours', 'raw', 'hand'] as const, turn)) got[key] = await sides[key]();
  return got as Trial;
}

/** The data sources of a run: without and with the job table (DeferredJobRecord); MariaDB's when it answers. */
interface Dbs {
  sqlite: BenchDb;
  postgres: BenchDb;
  sqliteJobs: BenchDb;
  postgresJobs: BenchDb;
  mariadb?: BenchDb;
  mariadbJobs?: BenchDb;
}

/** A scenario whose data source is missing. */
const missing = (name: string): Scenario => ({ name, n: 0, warmupN: 0, skipped: true, trial: () => Promise.reject(new Error(`${name}: its data source is not open`)) });

function scenarios(ctx: BenchContext, { sqlite, postgres, sqliteJobs, postgresJobs, mariadb, mariadbJobs }: Dbs): Scenario[] {
  const list: Scenario[] = [
    { name: 'enqueue, sequential', n: ENQUEUE_N, warmupN: 1000, trial: (n, turn) => enqueueTrial(ctx, sqlite, n, { inFlight: 1 }, turn) },
    { name: `enqueue, ${ENQUEUE_IN_FLIGHT} in flight`, n: ENQUEUE_N, warmupN: 1000, trial: (n, turn) => enqueueTrial(ctx, sqlite, n, { inFlight: ENQUEUE_IN_FLIGHT }, turn) },
  ];
  // One transaction per call, awaited one after another; without and with the job table.
  const inTransaction: Array<[string, BenchDb | undefined]> = [
    ['SQLite', sqlite],
    ['job table, SQLite', sqliteJobs],
    ['PostgreSQL', postgres],
    ['job table, PostgreSQL', postgresJobs],
    ['MariaDB', mariadb],
    ['job table, MariaDB', mariadbJobs],
  ];
  for (const [label, db] of inTransaction) {
    const name = `enqueue in a transaction, ${label}`;
    list.push(db ? {
      name, n: ENQUEUE_N, warmupN: 1000,
      trial: (n, turn) => enqueueTrial(ctx, db, n, { inFlight: 1, inTransaction: true }, turn),
    } : missing(name));
  }
  const drains: Array<[string, BenchDb | undefined, OursVariant]> = [
    ['SQLite', sqlite, 'tx'],
    ['SQLite, transaction: false', sqlite, 'no-tx'],
    ['job table, SQLite', sqliteJobs, 'tx'],
    ['PostgreSQL', postgres, 'tx'],
    ['job table, PostgreSQL', postgresJobs, 'tx'],
    ['MariaDB', mariadb, 'tx'],
    ['job table, MariaDB', mariadbJobs, 'tx'],
  ];
  for (const c of CONCURRENCY) {
    for (const [label, db, variant] of drains) {
      const name = `drain, c=${c}, ${label}`;
      if (!db) {
        list.push(missing(name));
        continue;
      }
      list.push({
        name, n: DRAIN_N, warmupN: 300,
        trial: (n, turn) => drainTrial({
          ours: () => oursDrain(ctx, db, variant, n, c),
          raw: () => rawDrain(ctx, db, n, c),
          hand: () => handDrain(ctx, db, variant, n, c),
        }, turn),
      });
    }
  }
  return list.filter((s) => selected(s.name));
}

async function environment(ctx: BenchContext, dbs: BenchDb[], jobDbs: BenchDb[]): Promise<string[]> {
  const info = await ctx.control.info('server');
  const redisVersion = /redis_version:(\S+)/.exec(info)?.[1] ?? '?';
  const cpus = os.cpus();
  return [
    `machine: ${os.availableParallelism()} cores (${cpus[0]?.model ?? '?'}), ${Math.round(os.totalmem() / 2 ** 30)} GiB, ${os.type()} ${os.release()} ${os.arch()}`,
    `node ${process.version}, Redis ${redisVersion} at ${REDIS_URL.replace(/\/\/[^@]*@/, '//')}, ${dbs.map((d) => d.version).join(', ')}`,
    `job table (DeferredJobRecord) on: ${jobDbs.map((d) => d.version).join(', ')}`,
    `bullmq ${version('bullmq')}, ioredis ${version('ioredis')}, typeorm ${version('typeorm')}, better-sqlite3 ${version('better-sqlite3')}, mysql2 ${version('mysql2')}, superjson ${version('superjson')}`,
    `load average at start (1/5/15 min): ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`,
    `enqueue N=${ENQUEUE_N} (sequential and ${ENQUEUE_IN_FLIGHT} in flight), drain N=${DRAIN_N} at concurrency ${CONCURRENCY.join(', ')}, ${REPS} interleaved repetitions per scenario (ours, raw, hand-written)`,
    ...(ONLY.length ? [`BENCH_ONLY=${JSON.stringify(process.env.BENCH_ONLY)}: only the scenarios named with ${ONLY.map((p) => JSON.stringify(p)).join(' or ')}`] : []),
  ];
}

/** Opens MariaDB without and with the job table into `dbs`; on failure nothing stays open and the reason is returned (MariaDB is optional). */
async function openMariadbPair(dbs: BenchDb[]): Promise<string | undefined> {
  const opened: BenchDb[] = [];
  try {
    opened.push(await openMariadb());
    opened.push(await openMariadb({ jobTable: true }));
    dbs.push(...opened);
    return undefined;
  } catch (err) {
    for (const db of opened) await db.close().catch(() => undefined);
    return oneLine(err);
  }
}

async function main(): Promise<void> {
  const started = performance.now();
  const ctx = new BenchContext();
  const dbs: BenchDb[] = [];
  let cleaned: Promise<void> | undefined;
  const cleanup = () => (cleaned ??= (async () => {
    await closeDeferred().catch(() => undefined);
    const left = await ctx.dropAll().catch(() => -1);
    for (const db of dbs) await db.close().catch((err) => log(`could not close ${db.kind}: ${String(err)}`));
    const remaining = await ctx.leftovers().catch(() => -1);
    const mariadbToo = dbs.some((db) => db.kind === 'MariaDB') ? ' and MariaDB databases' : '';
    console.log(`\ncleanup: ${left > 0 ? `${left} stray keys deleted, ` : ''}${remaining} keys of this run left in Redis (prefix bench-${ctx.runId}-*); PostgreSQL schemas${mariadbToo} dropped`);
    await ctx.close();
  })());
  process.once('SIGINT', () => void cleanup().finally(() => process.exit(130)));

  try {
    // First of all: nothing may have run a job (and so AsyncLocalStorage) in this process yet.
    const hooks = await promiseHookCost();
    dbs.push(await openSqlite());
    dbs.push(await openPostgres(10));
    dbs.push(await openSqlite({ jobTable: true }));
    dbs.push(await openPostgres(10, { jobTable: true }));
    const [sqlite, postgres, sqliteJobs, postgresJobs] = dbs;
    const mariadbFailure = await openMariadbPair(dbs);
    const [mariadb, mariadbJobs] = dbs.slice(4);
    console.log('typeorm-deferred vs raw BullMQ and a hand-written BullMQ + TypeORM worker');
    for (const line of await environment(ctx, dbs.filter((d) => !d.jobTable), dbs.filter((d) => d.jobTable))) console.log(line);

    const chosen = scenarios(ctx, { sqlite, postgres, sqliteJobs, postgresJobs, mariadb, mariadbJobs });
    const list = chosen.filter((s) => !s.skipped);
    const withBreakdown = selected('breakdown');
    const withCounts = selected('counts');
    if (chosen.length === 0 && !withBreakdown && !withCounts) throw new Error(`BENCH_ONLY=${JSON.stringify(process.env.BENCH_ONLY)} matches no scenario (nor "breakdown", nor "counts")`);
    if (mariadbFailure) console.log(`MariaDB at ${MARIADB_URL.replace(/\/\/[^@]*@/, '//')} is unreachable (${mariadbFailure}): skipping its ${chosen.length - list.length} scenario(s)${withCounts ? ' and its counts' : ''}`);

    const stored = await storedPayloads(ctx, sqlite);
    console.log(`job data as stored: ours ${stored.ours.length} B ${stored.ours}`);
    console.log(`                    raw  ${stored.raw.length} B ${stored.raw}`);
    console.log(`                    hand ${stored.hand.length} B ${stored.hand}`);

    if (list.length) log('warm-up (not counted)…');
    for (const s of list) await s.trial(Math.min(s.warmupN, s.n), 0);

    const samples = new Map<string, Samples>(list.map((s) => [s.name, { ours: [], raw: [], hand: [], ratio: [], handRatio: [] }]));
    const nameWidth = Math.max(0, ...list.map((s) => s.name.length));
    for (let rep = 0; rep < REPS; rep++) {
      for (const [i, s] of list.entries()) {
        // Rotate which side goes first, so none always runs on a warmer or colder machine.
        const { ours, raw, hand } = await s.trial(s.n, rep + i);
        const r = samples.get(s.name)!;
        r.ours.push(ours);
        r.raw.push(raw);
        r.hand.push(hand);
        r.ratio.push(ours.rate / raw.rate);
        r.handRatio.push(ours.rate / hand.rate);
        log(`rep ${rep + 1}/${REPS}  ${s.name.padEnd(nameWidth)} ours ${fmtRate(ours.rate).padStart(7)}/s  raw ${fmtRate(raw.rate).padStart(7)}/s  hand ${fmtRate(hand.rate).padStart(7)}/s  ours/raw ${fmtRatio(ours.rate / raw.rate)}  ours/hand ${fmtRatio(ours.rate / hand.rate)}`);
      }
    }

    // Per side: the median rate, its wall-clock µs per job, and the median CPU µs per job.
    const summary = list.map((s) => {
      const r = samples.get(s.name)!;
      const side = (m: Measure[]) => {
        const rate = median(m.map((x) => x.rate));
        return { rate, wall: 1e6 / rate, cpu: median(m.map((x) => x.cpuPerJob)) };
      };
      const spread = (ratios: number[]) => `${fmtRatio(Math.min(...ratios))}–${fmtRatio(Math.max(...ratios))}`;
      return {
        s, ours: side(r.ours), raw: side(r.raw), hand: side(r.hand),
        ratio: median(r.ratio), range: spread(r.ratio), handRatio: median(r.handRatio), handRange: spread(r.handRatio),
      };
    });
    if (summary.length) {
      console.log(`\nThroughput: median of ${REPS} interleaved runs per side, jobs/s (higher is better); ours/raw and ours/hand are the medians of the per-trial ratios`);
      console.log('(hand = the hand-written BullMQ + TypeORM worker: queue.add(name, { id }), a Worker that reloads the record in a transaction and calls noop())');
      console.log(table(
        ['scenario', 'N', 'ours jobs/s', 'raw jobs/s', 'ours/raw', 'ratio range', 'hand jobs/s', 'ours/hand', 'ours/hand range'],
        summary.map(({ s, ours, raw, hand, ratio, range, handRatio, handRange }) => [
          s.name, String(s.n), fmtRate(ours.rate), fmtRate(raw.rate), fmtRatio(ratio), range, fmtRate(hand.rate), fmtRatio(handRatio), handRange,
        ]),
      ));
      console.log('\nCost per job, µs: wall = 1e6 / median jobs/s; CPU = median CPU time (user + system) of this process per job');
      console.log(table(
        ['scenario', 'wall ours', 'wall raw', 'wall extra', 'CPU ours', 'CPU raw', 'CPU extra', 'CPU ours/raw', 'wall hand', 'CPU hand', 'CPU ours/hand'],
        summary.map(({ s, ours, raw, hand }) => [
          s.name, fmtMicros(ours.wall), fmtMicros(raw.wall), fmtMicros(ours.wall - raw.wall),
          fmtMicros(ours.cpu), fmtMicros(raw.cpu), fmtMicros(ours.cpu - raw.cpu), fmtRatio(ours.cpu / raw.cpu),
          fmtMicros(hand.wall), fmtMicros(hand.cpu), fmtRatio(ours.cpu / hand.cpu),
        ]),
      ));
    }
    // Ours in one scenario minus ours in another, when both ran.
    const difference = (label: string, withName: string, withoutName: string) => {
      const a = summary.find((x) => x.s.name === withName)?.ours;
      const b = summary.find((x) => x.s.name === withoutName)?.ours;
      if (a && b) console.log(`${label}: wall ${fmtMicros(a.wall - b.wall)} µs/job (${fmtMicros(a.wall)} vs ${fmtMicros(b.wall)}), CPU ${fmtMicros(a.cpu - b.cpu)} µs/job (${fmtMicros(a.cpu)} vs ${fmtMicros(b.cpu)})`);
    };
    for (const c of CONCURRENCY) difference(`SQLite drain c=${c}, ours with − without transaction`, `drain, c=${c}, SQLite`, `drain, c=${c}, SQLite, transaction: false`);
    for (const kind of ['SQLite', 'PostgreSQL', 'MariaDB']) {
      difference(`${kind} enqueue in a transaction, ours with − without job table`, `enqueue in a transaction, job table, ${kind}`, `enqueue in a transaction, ${kind}`);
      for (const c of CONCURRENCY) difference(`${kind} drain c=${c}, ours with − without job table`, `drain, c=${c}, job table, ${kind}`, `drain, c=${c}, ${kind}`);
    }

    if (withBreakdown) {
      log('breakdown…');
      const pieces = await breakdown([sqlite, postgres], 10_000);
      console.log('\nBreakdown: one call at a time, no Redis (median of 3 passes)');
      console.log(table(['step', 'µs/call'], pieces.map((p) => [p.label, fmtMicros(p.micros)])));
    }
    console.log(`await of a resolved promise: ${hooks.before.toFixed(0)} ns before the first job of this process, ${hooks.after.toFixed(0)} ns after it`);
    console.log('  (Node 20: AsyncLocalStorage.run(), which runs every job, turns on promise hooks for the whole process; the raw rows above ran with them on too)');

    if (withCounts) {
      const lines = await countCosts(ctx, countKinds(!mariadbFailure), COUNTS_N, log);
      console.log(`\n${lines.join('\n')}`);
    }
    console.log(`\nload average at end (1/5/15 min): ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}; total time: ${((performance.now() - started) / 1000).toFixed(0)} s`);
  } finally {
    await cleanup();
  }
}

// Everything is closed on the way out; should some handle stay open, say so rather than hang.
main().then(
  () => setTimeout(() => { log('bench: handles still open 10 s after the end; exiting'); process.exit(2); }, 10_000).unref(),
  (err) => {
    process.exitCode = 1;
    log(`bench failed: ${err instanceof Error ? err.stack : String(err)}`);
    setTimeout(() => process.exit(1), 10_000).unref();
  },
);
