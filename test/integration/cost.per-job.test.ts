import { Queue } from 'bullmq';
import { DataSource } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeDeferred, configure, Deferred, DeferredJobRecord, startWorker, type DeferredWorker } from '../../src/index.js';
import { perJobRedis, perJobSql, RedisCommandCounter, StatementCounter, type RedisTally, type SqlCost } from '../cost-counters.js';
import { Account, ENTITIES } from '../fixtures/entities.js';
import { ALL_DB_KINDS, deleteKeys, makeDataSource, REDIS_URL, uniquePrefix, type DbKind } from '../helpers.js';

// What one job costs in SQL statements, commits and Redis commands, with and without the job table.
// Counts do not drift with the machine's load, so they are asserted: they are today's baseline
// (issue 11), and a change that lowers one should lower its figure here.

/** Jobs per enqueue path (outside, then inside a transaction); the worker then runs both: 2 × PER_PATH jobs. */
const PER_PATH = 25;
const JOBS = 2 * PER_PATH;

interface Cost {
  enqueueOutside: SqlCost;
  enqueueInside: SqlCost;
  run: SqlCost;
  /** Per job; `run` counts the worker's clients over the drain, idle queues (high, low) included: see `run.byQueue`. */
  redis: { enqueueOutside: RedisTally; enqueueInside: RedisTally; run: RedisTally; producerDuringRun: number };
}

const redis = new RedisCommandCounter();
const measured: Array<{ kind: DbKind; table: boolean; cost: Cost }> = [];

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until(check: () => Promise<boolean>, what: string, everyMs = 25): Promise<void> {
  for (const end = Date.now() + 10_000; Date.now() < end;) {
    if (await check()) return;
    await sleep(everyMs);
  }
  throw new Error(`timed out waiting for ${what}`);
}

/**
 * Measures one database with or without the job table: warm-up jobs first (scripts, metadata), then,
 * with the queue paused, PER_PATH enqueues outside a transaction and PER_PATH inside one, then the
 * worker drains the JOBS jobs (default options, relay off: its rounds are not per job).
 */
async function measure(kind: DbKind, table: boolean): Promise<Cost> {
  const entities = table ? [...ENTITIES, DeferredJobRecord] : ENTITIES;
  const db = await makeDataSource(kind, entities);
  // The same database again, with the counting logger (an in-memory SQLite starts empty: synchronize builds it).
  await db.dataSource.destroy();
  const statements = new StatementCounter();
  const ds = new DataSource({ ...db.options, entities, synchronize: true, logging: true, logger: statements });
  await ds.initialize();
  const prefix = uniquePrefix();
  const producer = redis.client(REDIS_URL, 'producer');
  const workerRedis = redis.client(REDIS_URL, 'worker', { maxRetriesPerRequest: null });
  // Not counted: the test's own view of the queue, to pause it and to wait.
  const control = new Queue('default', { connection: { host: new URL(REDIS_URL).hostname, port: Number(new URL(REDIS_URL).port || 6379) }, prefix });
  let worker: DeferredWorker | undefined;
  try {
    configure({ connection: producer, prefix, dataSources: { main: ds } });
    worker = await startWorker({ connection: workerRedis, relay: false, shutdownTimeoutMs: 5_000 });
    const account = await ds.manager.save(ds.manager.create(Account, { name: 'cost', balance: 0, note: null }));
    const completed = async (n: number) => (await control.getJobCounts('completed')).completed === n;
    // With the table, the work after the commit ends with a read of the job's cancel mark (a GET).
    const pushDone = (n: number) => !table || (redis.peek('producer').byName.GET ?? 0) === n;

    await Deferred(account, ds, 'ann', 'echo', 'warm-up');
    await ds.transaction((m) => Deferred(account, m, 'ann', 'echo', 'warm-up'));
    await until(() => completed(2), 'the warm-up jobs');
    await control.pause();
    statements.take();
    redis.take('producer');

    for (let i = 0; i < PER_PATH; i++) await Deferred(account, ds, 'ann', 'echo', i);
    const outside = statements.take();
    const outsideRedis = redis.take('producer');

    for (let i = 0; i < PER_PATH; i++) {
      await ds.transaction((m) => Deferred(account, m, 'ann', 'echo', i));
      // The push runs after the commit: wait for all of it, so each enqueue's commands stay together.
      await until(async () => {
        return (await control.getJobCounts('wait')).wait === PER_PATH + i + 1 && pushDone(i + 1);
      }, 'the push after commit', 2);
    }
    const inside = statements.take();
    const insideRedis = redis.take('producer');

    redis.take('worker');
    await control.resume();
    await until(() => completed(2 + JOBS), 'the worker to drain the queue');
    const run = statements.take();
    const runRedis = redis.take('worker');
    return {
      enqueueOutside: perJobSql(outside, PER_PATH),
      enqueueInside: perJobSql(inside, PER_PATH),
      run: perJobSql(run, JOBS),
      redis: {
        enqueueOutside: perJobRedis(outsideRedis, PER_PATH),
        enqueueInside: perJobRedis(insideRedis, PER_PATH),
        run: perJobRedis(runRedis, JOBS),
        producerDuringRun: redis.take('producer').commands,
      },
    };
  } finally {
    await worker?.close();
    await control.close();
    await closeDeferred();
    // Clients we gave the library are ours to close.
    await Promise.allSettled([producer.quit(), workerRedis.quit()]);
    await deleteKeys(prefix);
    await ds.destroy();
    await db.drop();
  }
}

const fmt = (n: number) => String(Math.round(n * 100) / 100);

function table(): string {
  const rows = measured.map(({ kind, table: t, cost: c }) => `| ${kind} | ${t ? 'yes' : 'no'} | ${fmt(c.enqueueOutside.total)} (${fmt(c.enqueueOutside.commits)}) | ${fmt(c.enqueueInside.total)} (${fmt(c.enqueueInside.commits)}) | ${fmt(c.run.total)} (${fmt(c.run.commits)}) | ${fmt(c.redis.enqueueOutside.commands)} / ${fmt(c.redis.enqueueInside.commands)} | ${fmt(c.redis.run.byQueue.default ?? 0)} (all queues ${fmt(c.redis.run.commands)}, ${fmt(c.redis.run.roundTrips)} round trips) |`);
  const sequences = measured.map(({ kind, table: t, cost: c }) => `- ${kind}, job table ${t ? 'yes' : 'no'}: enqueue outside \`${c.enqueueOutside.sequence || '—'}\`; inside \`${c.enqueueInside.sequence}\`; job \`${c.run.sequence}\``);
  const commands = measured.map(({ kind, table: t, cost: c }) => `- ${kind}, job table ${t ? 'yes' : 'no'}: enqueue ${JSON.stringify(c.redis.enqueueOutside.byName)}; job ${JSON.stringify(Object.fromEntries(Object.entries(c.redis.run.byName).map(([k, v]) => [k, Math.round(v * 100) / 100])))}`);
  return [
    `Per job (N = ${JOBS}: ${PER_PATH} enqueued outside a transaction, ${PER_PATH} inside one; worker defaults, relay off). SQL: statements (commits, autocommit writes included). Redis: commands sent by our clients.`,
    '',
    '| database | job table | SQL enqueue outside tx | SQL enqueue inside tx (caller\'s BEGIN/COMMIT included) | SQL per job run | Redis per enqueue (outside / inside) | Redis per job run (its queue; the worker\'s idle queues too) |',
    '|---|---|---|---|---|---|---|',
    ...rows,
    '',
    'Statements in order:',
    ...sequences,
    '',
    'Redis commands by name, per job:',
    ...commands,
  ].join('\n');
}

beforeAll(() => redis.install());
afterAll(() => {
  redis.uninstall();
  if (measured.length) console.log(table());
});

interface Expected {
  /** One enqueue's statements in order ((auto): a write outside a transaction). */
  outside: string;
  inside: string;
  run: string;
  commits: { outside: number; inside: number; run: number };
}

// Today's figures: one INSERT at enqueue; per job the record's SELECT and one conditional UPDATE that
// completes the row (and takes its lock), committed together. No autocommit write on the way.
const WITH_TABLE: Record<DbKind, Expected> = {
  postgres: { outside: 'INSERT(auto)', inside: 'BEGIN, INSERT, COMMIT', run: 'BEGIN, SELECT, UPDATE, COMMIT', commits: { outside: 1, inside: 1, run: 1 } },
  mariadb: { outside: 'INSERT(auto)', inside: 'BEGIN, INSERT, COMMIT', run: 'BEGIN, SELECT, UPDATE, COMMIT', commits: { outside: 1, inside: 1, run: 1 } },
  sqlite: { outside: 'INSERT(auto)', inside: 'BEGIN, INSERT, COMMIT', run: 'BEGIN, SELECT, UPDATE, COMMIT', commits: { outside: 1, inside: 1, run: 1 } },
};
const WITHOUT_TABLE: Expected = { outside: '', inside: 'BEGIN, COMMIT', run: 'BEGIN, SELECT, COMMIT', commits: { outside: 0, inside: 1, run: 1 } };

/**
 * Redis, per job: one add per enqueue, and with the job table a read of the job's cancel mark after
 * it (a cancel() that raced the push); per run one moveToFinished (which also takes the next job),
 * plus a few commands when the queue starts and runs dry.
 */
const REDIS_PER_ENQUEUE = { table: 2, none: 1 };
const REDIS_PER_RUN = 1.1;

const count = (sequence: string) => (sequence ? sequence.split(', ').length : 0);

describe.each(ALL_DB_KINDS)('what one job costs on %s', (kind) => {
  describe.each([true, false])('with the job table: %s', (withTable) => {
    const expected = withTable ? WITH_TABLE[kind] : WITHOUT_TABLE;
    let cost: Cost;
    beforeAll(async () => {
      cost = await measure(kind, withTable);
      measured.push({ kind, table: withTable, cost });
    }, 60_000);

    it(`SQL statements per Deferred() outside a transaction: ${expected.outside || 'none'}, ${expected.commits.outside} commit(s)`, () => {
      // The total per job is exact: every enqueue sent the same statements.
      expect(cost.enqueueOutside).toMatchObject({ sequence: expected.outside, total: count(expected.outside), commits: expected.commits.outside });
    });

    it(`SQL statements per Deferred() in the caller's transaction, its BEGIN and COMMIT included: ${expected.inside}, ${expected.commits.inside} commit(s)`, () => {
      expect(cost.enqueueInside).toMatchObject({ sequence: expected.inside, total: count(expected.inside), commits: expected.commits.inside });
    });

    it(`SQL statements per job the worker runs (a record-level call that queries nothing): ${expected.run}, ${expected.commits.run} commit(s)`, () => {
      expect(cost.run).toMatchObject({ sequence: expected.run, total: count(expected.run), commits: expected.commits.run });
    });

    const perEnqueue = withTable ? REDIS_PER_ENQUEUE.table : REDIS_PER_ENQUEUE.none;
    it(`Redis commands: at most ${perEnqueue} per enqueue and ${REDIS_PER_RUN} per job run (averaged over ${JOBS} jobs)`, () => {
      expect(cost.redis.enqueueOutside.commands).toBeLessThanOrEqual(perEnqueue);
      expect(cost.redis.enqueueInside.commands).toBeLessThanOrEqual(perEnqueue);
      // Commands on the jobs' queue only: the worker's idle queues poll on their own clock (a blocking read every few seconds).
      expect(cost.redis.run.byQueue.default).toBeLessThanOrEqual(REDIS_PER_RUN);
      // While the worker drains, the producer side sends nothing.
      expect(cost.redis.producerDuringRun).toBe(0);
    });
  });
});
