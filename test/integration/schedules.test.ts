import { afterEach, describe, expect, it } from 'vitest';
import { defineTask, DeferredJobRecord, getJob, listSchedules, schedule, unschedule } from '../../src/index.js';
import { producerQueue } from '../../src/queues.js';
import { failure } from '../assert.js';
import { Account, ENTITIES } from '../fixtures/entities.js';
import { setup, type Harness } from '../helpers.js';

const ticks: string[] = [];
defineTask('test-tick', (payload: { n: number }, ctx) => {
  ticks.push(ctx.id);
  return payload.n * 2;
});

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

  it('a task every second runs as ordinary jobs: handle, result, job table row, listed with next and last run', async () => {
    h = await setup('sqlite', {}, {}, { entities: [...ENTITIES, DeferredJobRecord] });
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
