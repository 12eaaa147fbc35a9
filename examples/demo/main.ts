import 'reflect-metadata';
import { mkdirSync, rmSync } from 'node:fs';
import { join, relative } from 'node:path';
import { DataSource } from 'typeorm';
import { closeDeferred, configure, startWorker, type DeferredWorker } from '../../src/index.js';
import { ENTITIES } from './entities.js';
import { readOptions, USAGE, type DemoOptions } from './options.js';
import { bold, cyan, dim, field, heading, red, say, yellow } from './output.js';
import { clearPrefix, resolveRedis, RedisUnavailableError, type RedisTarget } from './redis.js';
import { seed } from './seed.js';
import { transactionalTour } from './history.js';
import { collectOutcomes, deferCalls, printSummary, verdict, watchProgress, type TourJob } from './tour.js';
import { startWeb, WebError } from './web.js';

/**
 * The typeorm-deferred demo: `npm start` runs a tour of deferred calls, then serves the
 * dashboard and a demo page (a button that starts a long job with progress) until Ctrl-C;
 * `npm start -- --once` runs the tour only and exits. `npm start -- --help` lists the
 * environment variables (REDIS_URL, DEMO_PORT, DEMO_PASSWORD…), read in options.ts.
 */

/** Everything a running demo holds; `serve()` and the web part get it. */
export interface DemoContext {
  options: DemoOptions;
  redis: RedisTarget;
  dataSource: DataSource;
  worker: DeferredWorker;
  /** The user the demo defers its calls for. */
  uid: string;
  /** The tour's jobs, once deferred. */
  tourJobs: TourJob[];
}

/** `s` as one shell word, quoted only when it needs to be (a DEMO_PASSWORD may hold anything). */
const shellWord = (s: string) => (/^[\w.:@%+=,/-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);

/** Ctrl-C or SIGTERM while the demo runs. */
class Interrupted extends Error {
  constructor(readonly signal: NodeJS.Signals) {
    super(`interrupted by ${signal}`);
  }
}

interface Signals {
  /** Resolves with the first signal. */
  signalled: Promise<NodeJS.Signals>;
  /** Aborted at the first signal, so that work left behind by race() stops too. */
  aborted: AbortSignal;
  /** `work`, unless a signal comes first: then Interrupted. */
  race<T>(work: Promise<T>): Promise<T>;
}

/** SIGINT/SIGTERM as a promise; a second one exits at once. */
function watchSignals(): Signals {
  let received: NodeJS.Signals | undefined;
  const controller = new AbortController();
  let resolveSignal!: (signal: NodeJS.Signals) => void;
  const signalled = new Promise<NodeJS.Signals>((resolve) => { resolveSignal = resolve; });
  const onSignal = (signal: NodeJS.Signals) => {
    if (received) {
      process.stderr.write(`\n${signal} again: exiting without a clean shutdown.\n`);
      process.exit(130);
    }
    received = signal;
    controller.abort();
    resolveSignal(signal);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return {
    signalled,
    aborted: controller.signal,
    race<T>(work: Promise<T>): Promise<T> {
      work.catch(() => undefined);
      return Promise.race([work, signalled.then((signal): never => { throw new Interrupted(signal); })]);
    },
  };
}

/** Cleanup steps, run last-in first-out; every step runs even when one fails or hangs. */
class Cleanup {
  private steps: Array<{ name: string; run: () => Promise<unknown> }> = [];
  private closed = false;

  add(name: string, run: () => Promise<unknown>): void {
    // Set-up interrupted by a signal may still finish a step after run(): undo it at once.
    if (this.closed) void run().catch(() => undefined);
    else this.steps.push({ name, run });
  }

  /** Runs every step; resolves the names of those that succeeded. */
  async run(timeoutMs = 10_000): Promise<string[]> {
    this.closed = true;
    const done: string[] = [];
    for (const step of this.steps.reverse()) {
      let timer: NodeJS.Timeout | undefined;
      try {
        await Promise.race([
          step.run(),
          new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`took longer than ${timeoutMs} ms`)), timeoutMs); }),
        ]);
        done.push(step.name);
      } catch (err) {
        process.stderr.write(`${yellow('warning')} shutdown step failed (${step.name}): ${(err as Error).message ?? err}\n`);
      } finally {
        clearTimeout(timer);
      }
    }
    this.steps = [];
    return done;
  }
}

/** Redis, a fresh SQLite file, the library's configuration and a worker. */
async function setUp(options: DemoOptions, cleanup: Cleanup): Promise<DemoContext> {
  heading('Setting up');
  const redis = await resolveRedis({ forcePrivate: options.forcePrivateRedis });
  if (redis.origin === 'private') cleanup.add('stopped the private redis-server', () => redis.stop());
  const where = {
    env: 'from REDIS_URL',
    local: 'the local server',
    private: `private redis-server started for this run, pid ${redis.pid}, in ${redis.dir}`,
  }[redis.origin];
  field('Redis', `${redis.url} ${dim(`(${where})`)}`);

  const deleted = await clearPrefix(redis.url, options.prefix);
  field('Queues', `high, default, low under the key prefix "${options.prefix}" ${dim(deleted ? `(cleared ${deleted} old keys)` : '(empty)')}`);

  mkdirSync(join(options.database, '..'), { recursive: true });
  for (const suffix of ['', '-journal', '-wal', '-shm']) rmSync(options.database + suffix, { force: true });
  const dataSource = new DataSource({ type: 'better-sqlite3', database: options.database, entities: ENTITIES, synchronize: true });
  await dataSource.initialize();
  cleanup.add('closed the database', () => dataSource.destroy());
  field('SQLite', `${relative(process.cwd(), options.database)} ${dim('(a fresh file)')}`);

  configure({ connection: redis.url, prefix: options.prefix, dataSources: { main: dataSource } });
  cleanup.add('closed the queues', () => closeDeferred());
  // The tour prints each job's outcome itself: the worker's log shows only what goes wrong outside a job.
  const aboutWorker = (write: (...parts: unknown[]) => void) => (fields: object, message?: string) => { if (!('jobId' in fields)) write(message, fields); };
  const logger = { info: () => undefined, warn: aboutWorker(console.warn), error: aboutWorker(console.error) };
  const worker = await startWorker({ queues: { high: 1, default: 1, low: 1 }, shutdownTimeoutMs: 5_000, logger });
  cleanup.add('stopped the worker', () => worker.close());
  field('Worker', `running in this process ${dim('(one job at a time: SQLite has a single connection)')}`);

  return { options, redis, dataSource, worker, uid: 'demo-user', tourJobs: [] };
}

/** The tour: sample data, one deferred call of each kind, their outcomes. True when all ended as expected. */
async function runTour(ctx: DemoContext, aborted: AbortSignal): Promise<boolean> {
  const data = await seed(ctx.dataSource);
  field('Data', `${data.customers.length} customers, ${data.invoices.length} invoices`);

  const jobs = await deferCalls(ctx.dataSource, ctx.uid, data);
  ctx.tourJobs.push(...jobs);
  const long = jobs.find((j) => j.label === 'progress');
  if (long) await watchProgress(long.job, aborted);
  const outcomes = await collectOutcomes(jobs);
  await printSummary(outcomes);
  const allEnded = verdict(outcomes);
  if (aborted.aborted) return allEnded;
  return (await transactionalTour(ctx.dataSource, ctx.uid, data)) && allEnded;
}

/**
 * Serves the dashboard and the demo page, and keeps the worker running, until Ctrl-C or
 * SIGTERM; the server is closed first at shutdown.
 */
async function serve(ctx: DemoContext, cleanup: Cleanup, signals: Signals): Promise<void> {
  const web = await signals.race(startWeb(ctx));
  cleanup.add('stopped the web server', () => web.close());
  const { password, adminPassword, randomPasswords } = ctx.options.web;
  const example = ctx.tourJobs.find((j) => j.label === 'progress') ?? ctx.tourJobs[0];

  heading(`Serving on ${web.url}`);
  if (web.notice) say(`  ${yellow(web.notice)}`);
  const width = 10;
  field('Home', `${cyan(`${web.url}/`)}  ${dim('(log in as demo; "Start a long job" shows a progress page)')}`, width);
  field('bull-board', `${cyan(`${web.url}/deferred/queues`)}  ${dim('(admin only)')}`, width);
  field('Job API', `curl -u ${shellWord(`demo:${password}`)} ${web.url}/deferred/api/jobs/${example?.job.id ?? '<id>'}`, width);
  field('History', `curl -u ${shellWord(`demo:${password}`)} ${web.url}/deferred/api/records/Invoice/1/jobs  ${dim('(the jobs of INV-1001, from the job table)')}`, width);
  field('Users', `demo / ${password}  ${dim(`(uid "${ctx.uid}": sees the jobs of that uid)`)}`, width);
  field('', `admin / ${adminPassword}  ${dim('(sees every job, and bull-board)')}`, width);
  if (randomPasswords.demo || randomPasswords.admin) say(dim('  Passwords are new on every run: set DEMO_PASSWORD and DEMO_ADMIN_PASSWORD to choose them.'));
  say();
  say(`  The worker keeps consuming "${ctx.options.prefix}" on ${ctx.redis.url}.`);
  say(`  Press Ctrl-C (or send SIGTERM to pid ${process.pid}) to stop.`);
  const signal = await signals.signalled;
  say();
  say(`  ${signal} received: stopping.`);
}

async function main(): Promise<number> {
  let options: DemoOptions | 'help';
  try {
    options = readOptions();
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`);
    return 2;
  }
  if (options === 'help') {
    say(USAGE);
    return 0;
  }

  const signals = watchSignals();
  const cleanup = new Cleanup();
  let code = 0;
  say(bold('typeorm-deferred demo'));
  try {
    const ctx = await signals.race(setUp(options, cleanup));
    const ok = await signals.race(runTour(ctx, signals.aborted));
    code = ok ? 0 : 1;
    if (!options.once) await serve(ctx, cleanup, signals);
  } catch (err) {
    if (err instanceof Interrupted) {
      say();
      say(`${err.signal} received: stopping before the end of the tour (a running job may take up to 5 s to finish; press Ctrl-C again to quit at once).`);
      code = err.signal === 'SIGINT' ? 130 : 143;
    } else if (err instanceof RedisUnavailableError) {
      process.stderr.write(`\n${red('No Redis for the demo.')}\n${err.message}\n`);
      code = 1;
    } else if (err instanceof WebError) {
      process.stderr.write(`\n${red('The demo cannot serve:')} ${err.message}\n`);
      code = 1;
    } else {
      process.stderr.write(`\n${red('The demo failed:')} ${(err as Error)?.stack ?? err}\n`);
      code = 1;
    }
  }
  const done = await cleanup.run();
  if (done.length) say(dim(`Shut down: ${done.join(', ')}.`));
  return code;
}

// process.exit: a job still polling after an interruption must not keep the process alive.
main().then((code) => process.exit(code), (err) => {
  process.stderr.write(`${err?.stack ?? err}\n`);
  process.exit(1);
});
