import { afterEach, describe, expect, it } from 'vitest';
import { configure, defineTask, DeferredJobRecord, getJob, listSchedules, schedule, startWorker, unschedule, type DeferredWorker, type ScheduleDeclaration } from '../../src/index.js';
import { QUEUE_NAMES } from '../../src/options.js';
import { producerQueue } from '../../src/queues.js';
import { failure } from '../assert.js';
import { Account, ENTITIES } from '../fixtures/entities.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { DECLARED_CHECK_MS } from '../../src/schedule/keep-declared.js';
import { freePort, startPrivateRedis } from '../redis-server.js';
import { ALL_DB_KINDS, REDIS_URL, setup, type Harness } from '../helpers.js';

const ticks: string[] = [];
defineTask('test-tick', (payload: { n: number }, ctx) => {
  ticks.push(ctx.id);
  return payload.n * 2;
});

/** Every job of schedule `name` that is still to run, in any queue: there must never be more than one. */
async function pendingJobs(name: string): Promise<string[]> {
  const ids: string[] = [];
  for (const q of QUEUE_NAMES) {
    const jobs = await producerQueue(q).getJobs(['delayed', 'waiting', 'prioritized']);
    ids.push(...jobs.map((j) => j.id!).filter((id) => id.startsWith(`repeat:${name}:`)));
  }
  return ids;
}

/** The job schedulers named `name`, over the three queues. */
async function schedulers(name: string): Promise<string[]> {
  const found: string[] = [];
  for (const q of QUEUE_NAMES) if (await producerQueue(q).getJobScheduler(name)) found.push(q);
  return found;
}

/** Waits until `check` holds, polling. */
async function until(check: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  for (const end = Date.now() + timeoutMs; !(await check());) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('schedules (schedule, unschedule, listSchedules)', () => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.cleanup();
    h = undefined;
    ticks.length = 0;
  });

  it.each(ALL_DB_KINDS)('a task every second runs as ordinary jobs: handle, result, job table row (%s), listed with next and last run', async (kind) => {
    h = await setup(kind, {}, {}, { entities: [...ENTITIES, DeferredJobRecord] });
    await schedule('tick', { every: 1000 }, { task: 'test-tick', payload: { n: 21 } });
    await until(() => ticks.length >= 2, 5_000);
    const [first] = ticks;
    expect(first).toMatch(/^repeat:tick:\d+$/);
    const job = await getJob(first);
    expect(job).toBeDefined();
    expect(await job!.result({ timeoutMs: 5_000 })).toBe(42);
    const row = await h.dataSource.manager.findOneByOrFail(DeferredJobRecord, { id: first });
    expect(row).toMatchObject({ state: 'completed', model: 'test-tick', uid: 'system' });
    const [info] = await listSchedules();
    expect(info).toMatchObject({ name: 'tick', queue: 'default', when: { every: 1000 }, target: { task: 'test-tick', uid: 'system' }, origin: 'api' });
    expect(info.next!.getTime()).toBeGreaterThan(Date.now() - 1000);
    expect(info.last).toMatchObject({ state: 'completed' });
    expect(await unschedule('tick')).toBe(true);
    expect(await unschedule('tick')).toBe(false);
    expect(await listSchedules()).toEqual([]);
    const seen = ticks.length;
    await new Promise((r) => setTimeout(r, 1_500));
    expect(ticks.length).toBeLessThanOrEqual(seen + 1);
  });

  it('a cron with seconds calls a model method on a record, on its queue, for its uid', async () => {
    h = await setup('sqlite');
    const account = await h.dataSource.manager.save(h.dataSource.manager.create(Account, { name: 'a', balance: 0, note: null }));
    await schedule('pay', { cron: '* * * * * *' }, { model: account, db: 'main', uid: 'ann', method: 'deposit', args: [5] }, { queue: 'high', limit: 2 });
    await until(async () => (await h!.dataSource.manager.findOneByOrFail(Account, { id: account.id })).balance >= 10, 8_000);
    const [info] = await listSchedules();
    expect(info).toMatchObject({ name: 'pay', queue: 'high', when: { cron: '* * * * * *' }, limit: 2, target: { model: 'Account', method: 'deposit', uid: 'ann' } });
    await new Promise((r) => setTimeout(r, 1_500));
    expect((await h.dataSource.manager.findOneByOrFail(Account, { id: account.id })).balance).toBe(10);
    expect(await producerQueue('default').getJobSchedulers()).toEqual([]);
    // Its limit reached, the schedule has no next run.
    expect((await listSchedules())[0]).toMatchObject({ name: 'pay', last: { state: 'completed' } });
    expect((await listSchedules())[0].next).toBeUndefined();
  });

  it('cancelling a tick that has not run fails that job alone: the schedule goes on', async () => {
    h = await setup('sqlite', {}, false);
    await schedule('tick', { every: 1000 }, { task: 'test-tick', payload: { n: 1 } });
    const [first] = await pendingJobs('tick');
    expect(await (await getJob(first))!.cancel()).toBe(true);
    await h.startWorker();
    await until(() => ticks.length >= 2, 5_000);
    expect(ticks).not.toContain(first);
    expect(await (await getJob(first))!.snapshot()).toMatchObject({ state: 'cancelled', error: { code: 'DEFER_ERR_CANCELLED' } });
    expect(await pendingJobs('tick')).toHaveLength(1);
  });

  it('bad schedules are refused with a code before anything is written', async () => {
    h = await setup('sqlite', {}, false);
    const target = { task: 'test-tick', payload: { n: 1 } };
    const cases: Array<[string, unknown, unknown, unknown]> = [
      ['bad name', { every: 1000 }, target, undefined],
      ['ok', { cron: 'not a cron' }, target, undefined],
      ['ok', { cron: '* * * * * * *' }, target, undefined],
      ['ok', { cron: '* * * * *', tz: 'Mars/Base' }, target, undefined],
      ['ok', { every: 10 }, target, undefined],
      ['ok', { every: 1000, cron: '* * * * *' }, target, undefined],
      ['ok', { every: 1000 }, target, { countdown: 5 }],
      ['ok', { every: 1000 }, target, { limit: 0 }],
      ['ok', { every: 1000 }, target, { startDate: 'soon' }],
      ['ok', { every: 1000 }, { model: 'Nope', db: 'main', uid: 'u', method: 'x' }, undefined],
    ];
    for (const [name, when, t, options] of cases) {
      const err = await failure(schedule(name, when as never, t as never, options as never));
      expect(err, `${name} ${JSON.stringify(when)} ${JSON.stringify(options)}`).toMatchObject({ code: expect.stringMatching(/^DEFER_ERR_/) });
    }
    expect(await listSchedules()).toEqual([]);
  });
});

describe('schedules under races: one scheduler and one next job per name, whatever runs at once', () => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.cleanup();
    h = undefined;
    ticks.length = 0;
  });
  const tick = { task: 'test-tick', payload: { n: 1 } };

  it('twenty upserts of one name at once, on different queues, leave one scheduler and one next job', async () => {
    h = await setup('sqlite', {}, false);
    await Promise.all(Array.from({ length: 20 }, (_, i) => schedule('race', { every: 60_000 }, tick, { queue: QUEUE_NAMES[i % 3] })));
    expect(await schedulers('race')).toHaveLength(1);
    expect(await pendingJobs('race')).toHaveLength(1);
    const [info] = await listSchedules();
    expect(info.queue).toBe((await schedulers('race'))[0]);
  });

  it('a lock left by a process that died holding it delays the next write until it expires, not forever', async () => {
    h = await setup('sqlite', {}, false);
    const redis = new Redis(REDIS_URL);
    try {
      // What a worker killed in the middle of a sync leaves: the lock, with its expiry.
      await redis.set(`${h.prefix}:deferred-schedules-lock`, 'a-dead-process', 'PX', 1_500);
      const started = Date.now();
      await schedule('after-the-dead', { every: 60_000 }, tick);
      expect(Date.now() - started).toBeGreaterThanOrEqual(1_000);
      expect(await schedulers('after-the-dead')).toEqual(['default']);
    } finally {
      redis.disconnect();
    }
  });

  it('remove and upsert racing each other leave a consistent state; remove then upsert leaves exactly one', async () => {
    h = await setup('sqlite', {}, false);
    for (let round = 0; round < 10; round++) {
      await Promise.all([unschedule('flip'), schedule('flip', { every: 60_000 }, tick), unschedule('flip'), schedule('flip', { cron: '0 3 * * *' }, tick, { queue: 'low' })]);
      const where = await schedulers('flip');
      expect(where.length).toBeLessThanOrEqual(1);
      expect(await pendingJobs('flip')).toHaveLength(where.length);
      expect((await listSchedules()).length).toBe(where.length);
    }
    await unschedule('flip');
    await schedule('flip', { every: 60_000 }, tick);
    expect(await schedulers('flip')).toEqual(['default']);
    expect(await pendingJobs('flip')).toHaveLength(1);
  });

  it('workers restarting across ticks, several at once, run each tick once and leave one next job (cron and every)', async () => {
    const schedules: Record<string, ScheduleDeclaration> = {
      beat: { when: { cron: '* * * * * *' }, target: tick },
      pulse: { when: { every: 1000 }, target: tick },
    };
    h = await setup('sqlite', { schedules }, false);
    const run = async (ms: number) => {
      const ws: DeferredWorker[] = await Promise.all([1, 2, 3].map(() => startWorker({ shutdownTimeoutMs: 5_000 })));
      await new Promise((r) => setTimeout(r, ms));
      await Promise.all(ws.map((w) => w.close()));
    };
    await run(2_300);
    await new Promise((r) => setTimeout(r, 1_200));
    await run(1_700);
    await run(1_900);
    for (const name of ['beat', 'pulse']) {
      const seen = ticks.filter((id) => id.startsWith(`repeat:${name}:`)).map((id) => Number(id.split(':')[2]));
      expect(new Set(seen).size).toBe(seen.length);
      // At most one job per second of the run, however many workers restarted.
      const sorted = [...seen].sort((a, b) => a - b);
      for (let i = 1; i < sorted.length; i++) expect(sorted[i] - sorted[i - 1], name).toBeGreaterThanOrEqual(1000);
      expect(seen.length, name).toBeGreaterThanOrEqual(4);
      expect(await schedulers(name)).toEqual(['default']);
      expect(await pendingJobs(name)).toHaveLength(1);
    }
  });

  it('a worker makes the stored schedules match its configuration: added, changed, removed; schedule() ones stay', async () => {
    const first: Record<string, ScheduleDeclaration> = {
      a: { when: { cron: '0 5 * * *' }, target: tick },
      b: { when: { cron: '0 3 * * *', tz: 'Europe/Paris' }, target: tick },
    };
    h = await setup('sqlite', { schedules: first }, false);
    await schedule('mine', { every: 60_000 }, tick);
    await h.startWorker();
    expect((await listSchedules()).map((s) => [s.name, s.origin])).toEqual([['a', 'config'], ['b', 'config'], ['mine', 'api']]);
    const nextOfA = (await listSchedules())[0].next;
    await h.worker?.close();
    const { dataSources, prefix, connection } = { dataSources: { main: h.dataSource }, prefix: h.prefix, connection: undefined };
    configure({ dataSources, prefix, ...(connection ? { connection } : {}), schedules: {
      a: { when: { cron: '0 5 * * *' }, target: tick },
      b: { when: { cron: '0 4 * * *', tz: 'Europe/Paris' }, target: tick, options: { queue: 'high' } },
      c: { when: { every: 30_000 }, target: tick },
    } });
    await h.startWorker();
    const after = await listSchedules();
    expect(after.map((s) => [s.name, s.queue, s.origin])).toEqual([['a', 'default', 'config'], ['b', 'high', 'config'], ['c', 'default', 'config'], ['mine', 'default', 'api']]);
    expect(after[0].next).toEqual(nextOfA);
    expect(after[1].when).toEqual({ cron: '0 4 * * *', tz: 'Europe/Paris' });
    expect(await schedulers('b')).toEqual(['high']);
    configure({ dataSources, prefix, schedules: {} });
    await h.startWorker();
    expect((await listSchedules()).map((s) => s.name)).toEqual(['mine']);
  });

  it('Redis killed and restarted empty under a running worker: its declared schedules are written again and fire', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'deferred-redis-'));
    const port = await freePort();
    let redis = await startPrivateRedis(port, dir);
    try {
      h = await setup('sqlite', { connection: `redis://127.0.0.1:${port}`, schedules: { beat: { when: { cron: '* * * * * *' }, target: tick } } });
      await until(() => ticks.length >= 1, 5_000);
      redis.kill('SIGKILL');
      await new Promise((r) => setTimeout(r, 500));
      // Nothing kept on disk: the schedule is gone with the old server.
      redis = await startPrivateRedis(port, dir);
      const before = ticks.length;
      await until(() => ticks.length >= before + 2, 15_000);
      expect(await schedulers('beat')).toEqual(['default']);
      expect(await pendingJobs('beat')).toHaveLength(1);
    } finally {
      await h?.cleanup().catch(() => undefined);
      h = undefined;
      redis.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  }, 40_000);

  it('a schedule declared in the configuration and removed by hand comes back while a worker runs', async () => {
    h = await setup('sqlite', { schedules: { beat: { when: { cron: '0 3 * * *' }, target: tick } } });
    expect(await unschedule('beat')).toBe(true);
    expect(await schedulers('beat')).toEqual([]);
    await until(async () => (await schedulers('beat')).length === 1, DECLARED_CHECK_MS + 5_000);
    expect((await listSchedules())[0]).toMatchObject({ name: 'beat', origin: 'config' });
  }, 30_000);

  it('a worker whose configuration declares a schedule it cannot build does not start, and writes nothing', async () => {
    h = await setup('sqlite', { schedules: { ok: { when: { every: 60_000 }, target: tick }, bad: { when: { every: 60_000 }, target: { model: 'Nope', db: 'main', uid: 'u', method: 'x' } } } }, false);
    expect(await failure(startWorker())).toMatchObject({ code: 'DEFER_ERR_UNKNOWN_MODEL' });
    expect(await listSchedules()).toEqual([]);
  });
});
