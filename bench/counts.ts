/**
 * What a job costs, counted (issue 11), untimed: SQL statements per enqueue and per job, by kind,
 * and commits; Redis commands per enqueue and per job. Ours without and with the job table, and the
 * hand-written side, on SQLite, PostgreSQL and MariaDB. Counts do not drift with the machine's load.
 */
import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { startPrivateRedis } from '../examples/demo/redis.js';
import { closeDeferred, configure, Deferred, startWorker } from '../src/index.js';
import type { BenchContext } from './context.js';
import { runAll, type Consumer } from './drain.js';
import { handAdd, handProcessor, type HandData } from './handwritten.js';
import { QUEUE, UID } from './payload.js';
import { deleteKeys, LIBRARY_OPTIONS, openMariadb, openPostgres, openSqlite, REDIS_URL, shortKind, type BenchDb, type BenchDbOptions } from './services.js';
import { SQL_KINDS, StatementCounter, type SqlKind, type Statement } from './statement-counter.js';
import { table } from './stats.js';

/** Statements per call, by kind; commits = COMMITs plus autocommit writes (a WAL flush each on PostgreSQL). */
interface SqlCost {
  total: number;
  commits: number;
  byKind: string;
}

function perCall(statements: Statement[], calls: number): SqlCost {
  const count = (kind: SqlKind, autocommit: boolean) => statements.filter((s) => s.kind === kind && s.autocommit === autocommit).length;
  // In a transaction first, then the autocommit writes, marked "(auto)".
  const kinds = [...SQL_KINDS.map((k) => [k, false] as const), ...SQL_KINDS.map((k) => [k, true] as const)];
  const byKind = kinds.filter(([k, auto]) => count(k, auto)).map(([k, auto]) => `${k}${auto ? '(auto)' : ''} ${fmt(count(k, auto) / calls)}`).join(', ');
  const commits = statements.filter((s) => s.kind === 'COMMIT' || s.autocommit).length;
  return { total: statements.length / calls, commits: commits / calls, byKind: byKind || 'none' };
}

// ---- Redis: commands sent by the sides' clients, and what the server executed ----------------

interface SentCommand {
  name: string;
}

/**
 * Counts, in this process, the commands every ioredis client sends except the bench's own
 * (`exclude`): a pipeline's commands each count, a resent command once.
 */
class SentCounter {
  private readonly excluded = new WeakSet<Redis>();
  private readonly seen = new WeakSet<object>();
  private sent = 0;
  /** Commands ever sent: the bench waits until it stops moving. */
  total = 0;
  private restore: (() => void) | undefined;

  install(): void {
    const proto = Redis.prototype as unknown as { sendCommand(this: Redis, command: SentCommand, stream?: unknown): unknown };
    const { sendCommand } = proto;
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const counter = this;
    proto.sendCommand = function (command, stream) {
      if (!counter.excluded.has(this) && !counter.seen.has(command)) {
        counter.seen.add(command);
        counter.sent++;
        counter.total++;
      }
      return sendCommand.call(this, command, stream);
    };
    this.restore = () => { proto.sendCommand = sendCommand; };
  }

  uninstall(): void {
    this.restore?.();
    this.restore = undefined;
  }

  exclude(client: Redis): Redis {
    this.excluded.add(client);
    return client;
  }

  /** Commands sent since the last call. */
  take(): number {
    const taken = this.sent;
    this.sent = 0;
    return taken;
  }
}

/**
 * The Redis the counts run on: a private redis-server when there is one (nobody else's commands in
 * INFO commandstats), else the shared one, with a warning.
 */
interface CountsRedis {
  url: string;
  note: string;
  stop(): Promise<void>;
}

/** A private redis-server (the demo's, started the same way), else the shared Redis with a warning. */
async function countsRedis(): Promise<CountsRedis> {
  try {
    const server = await startPrivateRedis('redis-server');
    return { url: server.url, note: `a private redis-server on ${server.url.replace('redis://', '')} (pid ${server.pid})`, stop: server.stop };
  } catch (err) {
    return {
      url: REDIS_URL,
      note: `the shared Redis at ${REDIS_URL}: WARNING, could not start a private redis-server (${err instanceof Error ? err.message.split('\n')[0] : String(err)}), so "executed" also counts other clients' commands`,
      stop: async () => undefined,
    };
  }
}

/** Calls per command name, from INFO commandstats. */
async function commandStats(client: Redis): Promise<Map<string, number>> {
  const info = await client.info('commandstats');
  const calls = new Map<string, number>();
  for (const m of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) calls.set(m[1], Number(m[2]));
  return calls;
}

/** Calls executed between two snapshots, the INFO calls themselves left out. */
function executedBetween(before: Map<string, number>, after: Map<string, number>): number {
  let total = 0;
  for (const [name, calls] of after) if (name !== 'info') total += calls - (before.get(name) ?? 0);
  return total;
}

// ---- One side, measured ----------------------------------------------------------------------

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/** How long a side must send nothing for its call to count as finished. */
const QUIET_MS = 30;
const fmt = (n: number) => String(Math.round(n * 100) / 100);

/** What one side does, on one data source (which has the counting logger). */
interface CountSide {
  label: string;
  /** One enqueue outside a transaction; the job's id. */
  enqueue(): Promise<string>;
  /** One enqueue in a transaction of its own; the job's id. */
  enqueueInTransaction(): Promise<string>;
  startConsumer(): Promise<Consumer>;
  close(): Promise<void>;
}

interface Cost {
  label: string;
  enqueue: SqlCost;
  enqueueInTransaction: SqlCost;
  job: SqlCost;
  redis: { enqueue: number; enqueueInTransaction: number; job: number };
  /** INFO commandstats: everything the server ran, commands inside Lua scripts included. */
  executed: { enqueue: number; enqueueInTransaction: number; job: number };
}

/**
 * The bench's own view of the queue (its commands are not counted, and executed figures have them
 * taken out), and how it waits for a call's work to end: what follows the push (the after-commit
 * work, a row update) is the library's business, so the bench waits until no statement or command
 * has been sent for QUIET_MS.
 */
class Probe {
  probes = 0;
  readonly queue: Queue;

  constructor(readonly client: Redis, readonly prefix: string, private readonly activity: () => number) {
    this.queue = new Queue(QUEUE, { connection: client, prefix });
    this.queue.on('error', () => undefined);
  }

  /** Until the job's key is in Redis and the side has gone quiet. */
  async pushed(id: string): Promise<void> {
    await this.until(async () => {
      this.probes++;
      return (await this.client.exists(`${this.prefix}:${QUEUE}:${id}`)) === 1;
    }, `job ${id} in Redis`);
    await this.quiet();
  }

  /** Until `n` jobs completed and the side has gone quiet; fails on a failed job. */
  async completed(n: number): Promise<void> {
    await this.until(async () => {
      this.probes += 2;
      const [done, failed] = await Promise.all([this.client.zcard(`${this.prefix}:${QUEUE}:completed`), this.client.zcard(`${this.prefix}:${QUEUE}:failed`)]);
      if (failed) throw new Error(`${failed} job(s) failed`);
      return done >= n;
    }, `${n} jobs completed`);
    await this.quiet();
  }

  private async quiet(): Promise<void> {
    let last = this.activity();
    let since = Date.now();
    await this.until(async () => {
      const now = this.activity();
      if (now !== last) [last, since] = [now, Date.now()];
      return Date.now() - since >= QUIET_MS;
    }, 'no more statements or commands');
  }

  private async until(check: () => Promise<boolean>, what: string): Promise<void> {
    for (const end = Date.now() + 30_000; Date.now() < end;) {
      if (await check()) return;
      await sleep(5);
    }
    throw new Error(`counts: timed out waiting for ${what}`);
  }
}

/**
 * Counts one side: a job out and in first (untimed warm-up: connections, scripts, statements),
 * then `n / 2` enqueues outside a transaction and `n / 2` inside one, each waited for, then,
 * with the queue paused and a fresh consumer ready, the drain of the n jobs at concurrency 1.
 */
async function measure(side: CountSide, statements: StatementCounter, sent: SentCounter, probe: Probe, n: number): Promise<Cost> {
  const half = Math.floor(n / 2);
  const stats = () => commandStats(probe.client);
  await probe.pushed(await side.enqueue());
  await probe.pushed(await side.enqueueInTransaction());
  let consumer = await side.startConsumer();
  await probe.completed(2);
  await consumer.close();

  statements.take();
  sent.take();
  let probes = probe.probes;
  const s0 = await stats();
  for (let i = 0; i < half; i++) await probe.pushed(await side.enqueue());
  const s1 = await stats();
  const enqueue = { sql: perCall(statements.take(), half), redis: sent.take() / half, executed: (executedBetween(s0, s1) - (probe.probes - probes)) / half };

  probes = probe.probes;
  for (let i = half; i < n; i++) await probe.pushed(await side.enqueueInTransaction());
  const s2 = await stats();
  const inTx = { sql: perCall(statements.take(), n - half), redis: sent.take() / (n - half), executed: (executedBetween(s1, s2) - (probe.probes - probes)) / (n - half) };

  await probe.queue.pause();
  consumer = await side.startConsumer();
  // Let the consumer's start-up commands pass: they are not per job.
  await sleep(200);
  statements.take();
  sent.take();
  probes = probe.probes;
  const s3 = await stats();
  await probe.queue.resume();
  await probe.completed(2 + n);
  const s4 = await stats();
  const job = { sql: perCall(statements.take(), n), redis: sent.take() / n, executed: (executedBetween(s3, s4) - (probe.probes - probes)) / n };
  await consumer.close();
  return {
    label: side.label, enqueue: enqueue.sql, enqueueInTransaction: inTx.sql, job: job.sql,
    redis: { enqueue: enqueue.redis, enqueueInTransaction: inTx.redis, job: job.redis },
    executed: { enqueue: enqueue.executed, enqueueInTransaction: inTx.executed, job: job.executed },
  };
}

/** Ours: Deferred() and startWorker (relay off, as in the drains), on `url`. */
function oursSide(db: BenchDb, url: string, prefix: string): CountSide {
  configure({ connection: url, prefix, dataSources: { main: db.dataSource }, ...LIBRARY_OPTIONS });
  return {
    label: db.jobTable ? 'ours, job table' : 'ours',
    enqueue: async () => (await Deferred(db.record, db.dataSource, UID, 'noop')).id,
    enqueueInTransaction: async () => (await db.dataSource.transaction((m) => Deferred(db.record, m, UID, 'noop'))).id,
    startConsumer: () => startWorker({ queues: { default: 1, high: 0, low: 0 }, shutdownTimeoutMs: 5_000, relay: false }),
    close: () => closeDeferred(),
  };
}

/** The hand-written side: queue.add(name, { id }) and a BullMQ Worker that reloads the record in a transaction. */
function handSide(db: BenchDb, url: string, prefix: string): CountSide {
  const producer = new Redis(url);
  producer.on('error', () => undefined);
  const queue = new Queue(QUEUE, { connection: producer, prefix });
  queue.on('error', () => undefined);
  return {
    label: 'hand-written',
    enqueue: async () => (await handAdd(queue, db)).id!,
    // An empty transaction of the caller, then the add after its commit.
    enqueueInTransaction: async () => {
      await db.dataSource.transaction(async () => undefined);
      return (await handAdd(queue, db)).id!;
    },
    async startConsumer() {
      const client = new Redis(url, { maxRetriesPerRequest: null });
      client.on('error', () => undefined);
      const worker = new Worker<HandData>(QUEUE, handProcessor(db, 'tx'), { connection: client, prefix, concurrency: 1 });
      worker.on('error', () => undefined);
      await worker.waitUntilReady();
      return { close: () => runAll([() => worker.close(), () => client.quit().catch(() => client.disconnect())]) };
    },
    close: () => runAll([() => queue.close(), () => producer.quit().catch(() => producer.disconnect())]),
  };
}

type Opener = (options: BenchDbOptions) => Promise<BenchDb>;

/** The data sources the counts run on; MariaDB only when the bench could open it. */
export function countKinds(withMariadb: boolean): Array<[string, Opener]> {
  return [
    ['SQLite', (o) => openSqlite(o)],
    ['PostgreSQL', (o) => openPostgres(10, o)],
    ...(withMariadb ? [['MariaDB', (o: BenchDbOptions) => openMariadb(o)] as [string, Opener]] : []),
  ];
}

/** Opens a data source with a counting logger, measures the sides on it, closes it. */
async function onDataSource(ctx: BenchContext, open: Opener, jobTable: boolean, env: { url: string; control: Redis; sent: SentCounter; n: number }): Promise<Cost[]> {
  const statements = new StatementCounter();
  const db = await open({ jobTable, logger: statements });
  const costs: Cost[] = [];
  try {
    // Without the job table: ours, then the hand-written side on the same data source.
    const makers = jobTable ? [oursSide] : [oursSide, handSide];
    for (const make of makers) {
      const prefix = ctx.newPrefix(`counts-${shortKind(db)}-${make === handSide ? 'hand' : 'ours'}${jobTable ? '-jt' : ''}`);
      const probe = new Probe(env.control, prefix, () => statements.seen + env.sent.total);
      const side = make(db, env.url, prefix);
      try {
        costs.push(await measure(side, statements, env.sent, probe, env.n));
      } finally {
        await runAll([() => side.close(), () => probe.queue.close(), () => deleteKeys(env.control, `${prefix}:*`), () => ctx.dropPrefix(prefix)]);
      }
    }
  } finally {
    await db.close();
  }
  return costs;
}

/**
 * The "what a job costs" section: per database, ours, ours with the job table and the hand-written
 * side over `n` jobs each. Returns the lines to print.
 */
export async function countCosts(ctx: BenchContext, kinds: Array<[string, Opener]>, n: number, log: (line: string) => void): Promise<string[]> {
  // Completions are counted in Redis, which keeps the last 10000 (the default retention).
  if (n < 2 || n > 9_000) throw new Error(`BENCH_COUNTS_N must be between 2 and 9000, not ${n}`);
  const redis = await countsRedis();
  const sent = new SentCounter();
  const control = sent.exclude(new Redis(redis.url));
  control.on('error', () => undefined);
  const results: Array<{ kind: string; costs: Cost[] }> = [];
  sent.install();
  try {
    for (const [kind, open] of kinds) {
      log(`counts: ${kind}…`);
      const [ours, hand] = await onDataSource(ctx, open, false, { url: redis.url, control, sent, n });
      const [oursTable] = await onDataSource(ctx, open, true, { url: redis.url, control, sent, n });
      results.push({ kind, costs: [ours, oursTable, hand] });
    }
  } finally {
    sent.uninstall();
    await control.quit().catch(() => control.disconnect());
    await redis.stop();
  }
  return report(results, n, redis.note);
}

function report(results: Array<{ kind: string; costs: Cost[] }>, n: number, where: string): string[] {
  const sql = (c: SqlCost) => `${fmt(c.total)} (${fmt(c.commits)})`;
  const rows = results.flatMap(({ kind, costs }) => costs.map((c) => [
    kind, c.label, sql(c.enqueue), sql(c.enqueueInTransaction), fmt(c.job.total), fmt(c.job.commits),
    fmt(c.redis.enqueue), fmt(c.redis.enqueueInTransaction), fmt(c.redis.job),
    fmt(c.executed.enqueue), fmt(c.executed.job),
  ]));
  const byKind = results.flatMap(({ kind, costs }) => costs.map((c) => `  ${kind}, ${c.label}: enqueue ${c.enqueue.byKind}; in a transaction ${c.enqueueInTransaction.byKind}; job ${c.job.byKind}`));
  const sideBySide = results.map(({ kind, costs }) => {
    const get = (label: string) => costs.find((c) => c.label === label)!;
    const [ours, table, hand] = [get('ours'), get('ours, job table'), get('hand-written')];
    const three = (f: (c: Cost) => number) => `ours ${fmt(f(ours))}, ours with the job table ${fmt(f(table))}, hand ${fmt(f(hand))}`;
    return `  ${kind}: SQL/job: ${three((c) => c.job.total)}; commits/job: ${three((c) => c.job.commits)}; redis cmds/job: ${three((c) => c.redis.job)}`;
  });
  return [
    `What a job costs, counted (untimed): per database and side, ${Math.floor(n / 2)} enqueues outside a transaction, ${n - Math.floor(n / 2)} in one, then the drain of those ${n} jobs at concurrency 1`,
    '  SQL: statements per call through a TypeORM logger (commits in parentheses: COMMITs plus autocommit writes); in a transaction: the caller\'s BEGIN and COMMIT included',
    `  Redis on ${where}: "cmds" = commands the side's clients sent (counted in this process, a pipeline's commands each);`,
    '  "executed" = INFO commandstats delta, i.e. also every command run inside BullMQ\'s Lua scripts (INFO and the bench\'s own probes left out; the drain\'s one resume() is in it)',
    table(
      ['database', 'side', 'SQL/enqueue', 'SQL/enqueue in tx', 'SQL/job', 'commits/job', 'redis cmds/enqueue', 'redis cmds/enqueue in tx', 'redis cmds/job', 'executed/enqueue', 'executed/job'],
      rows,
    ),
    'SQL statements by kind, per call:',
    ...byKind,
    'Side by side, per job:',
    ...sideBySide,
  ];
}
