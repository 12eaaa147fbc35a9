import 'reflect-metadata';
import { mkdirSync, rmSync } from 'node:fs';
import { join, relative } from 'node:path';
import { DataSource } from 'typeorm';
import { closeDeferred, configure, startWorker, type DeferredWorker } from '../../src/index.js';
import { ENTITIES } from './entities.js';
import { bold, dim, field, heading, red, say, yellow } from './output.js';
import { clearPrefix, resolveRedis, RedisUnavailableError, type RedisTarget } from './redis.js';
import { seed } from './seed.js';
import { collectOutcomes, deferCalls, printSummary, verdict, watchProgress } from './tour.js';

/**
 * The typeorm-deferred demo: `npm start` (add `-- --serve` to keep the worker running).
 *
 *   REDIS_URL=redis://…          use this Redis, and only it
 *   DEMO_SERVE=1                 same as --serve
 *   DEMO_FORCE_PRIVATE_REDIS=1   ignore REDIS_URL and :6379, start a private redis-server
 *   DEMO_PREFIX=name             queue key prefix (default deferred-demo)
 */

const USAGE = `Usage: npm start [-- --serve]

Runs a tour of typeorm-deferred on an SQLite file (.demo/demo.sqlite) and Redis,
with a worker in this process, prints how each job ended, and exits.

  --serve    keep the worker running after the tour, until Ctrl-C
  --help     show this help

Environment: REDIS_URL (use this Redis), DEMO_SERVE=1 (same as --serve),
DEMO_FORCE_PRIVATE_REDIS=1 (start a private redis-server), DEMO_PREFIX (default deferred-demo).`;

/** What the demo was asked to do. */
export interface DemoOptions {
  serve: boolean;
  forcePrivateRedis: boolean;
  prefix: string;
  /** The SQLite file, made fresh on each run. */
  database: string;
}

/** Everything a running demo holds; `serve()` and future additions (the dashboard) get it. */
export interface DemoContext {
  options: DemoOptions;
  redis: RedisTarget;
  dataSource: DataSource;
  worker: DeferredWorker;
  /** The user the demo defers its calls for. */
  uid: string;
}

const isOn = (value: string | undefined) => value !== undefined && /^(1|true|yes|on)$/i.test(value.trim());

function readOptions(argv = process.argv.slice(2), env = process.env): DemoOptions | 'help' {
  const unknown = argv.filter((a) => a !== '--serve' && a !== '--help' && a !== '-h');
  if (unknown.length) throw new UsageError(`Unknown argument${unknown.length > 1 ? 's' : ''}: ${unknown.join(' ')}\n\n${USAGE}`);
  if (argv.includes('--help') || argv.includes('-h')) return 'help';
  const prefix = env.DEMO_PREFIX?.trim() || 'deferred-demo';
  if (!/^[\w.-]+$/.test(prefix)) throw new UsageError(`DEMO_PREFIX must be letters, digits, '_', '.' or '-', not ${JSON.stringify(prefix)}`);
  return {
    serve: argv.includes('--serve') || isOn(env.DEMO_SERVE),
    forcePrivateRedis: isOn(env.DEMO_FORCE_PRIVATE_REDIS),
    prefix,
    database: join(process.cwd(), '.demo', 'demo.sqlite'),
  };
}

class UsageError extends Error {}

/** Ctrl-C or SIGTERM while the demo runs. */
class Interrupted extends Error {
  constructor(readonly signal: NodeJS.Signals) {
    super(`interrupted by ${signal}`);
  }
}

/** SIGINT/SIGTERM as a promise; a second one exits at once. */
function watchSignals() {
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
    /** Aborted at the first signal, so that work left behind by race() stops too. */
    aborted: controller.signal,
    /** `work`, unless a signal comes first: then Interrupted. */
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
  const worker = await startWorker({ queues: { high: 1, default: 1, low: 1 }, shutdownTimeoutMs: 5_000 });
  cleanup.add('stopped the worker', () => worker.close());
  field('Worker', `running in this process ${dim('(one job at a time: SQLite has a single connection)')}`);

  return { options, redis, dataSource, worker, uid: 'demo-user' };
}

/** The tour: sample data, one deferred call of each kind, their outcomes. True when all ended as expected. */
async function runTour(ctx: DemoContext, aborted: AbortSignal): Promise<boolean> {
  const data = await seed(ctx.dataSource);
  field('Data', `${data.customers.length} customers, ${data.invoices.length} invoices`);

  const jobs = await deferCalls(ctx.dataSource, ctx.uid, data);
  const long = jobs.find((j) => j.label === 'progress');
  if (long) await watchProgress(long.job, aborted);
  const outcomes = await collectOutcomes(jobs);
  await printSummary(outcomes);
  return verdict(outcomes);
}

/**
 * Keeps the worker running until Ctrl-C or SIGTERM. This is where a server
 * (the dashboard, for one) would start and stop.
 */
export async function serve(ctx: DemoContext, signalled: Promise<NodeJS.Signals>): Promise<void> {
  heading('Serving');
  say(`  The worker keeps consuming "${ctx.options.prefix}" on ${ctx.redis.url}.`);
  say(`  Press Ctrl-C (or send SIGTERM to pid ${process.pid}) to stop.`);
  const signal = await signalled;
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
    if (options.serve) await serve(ctx, signals.signalled);
  } catch (err) {
    if (err instanceof Interrupted) {
      say();
      say(`${err.signal} received: stopping before the end of the tour (a running job may take up to 5 s to finish; press Ctrl-C again to quit at once).`);
      code = err.signal === 'SIGINT' ? 130 : 143;
    } else if (err instanceof RedisUnavailableError) {
      process.stderr.write(`\n${red('No Redis for the demo.')}\n${err.message}\n`);
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
