import { afterEach, describe, expect, it } from 'vitest';
import { closeDeferred, Deferred, DeferredType, getJob, type DeferralError } from '../../src/index.js';
import { Account } from '../fixtures/entities.js';
import { setup, type Harness } from '../helpers.js';

describe('the DeferredJob handle', () => {
  let h: Harness;
  afterEach(async () => h?.cleanup());
  const account = () => h.dataSource.manager.save(h.dataSource.manager.create(Account, { name: 'h', balance: 0, note: null }));
  const codeOf = (p: Promise<unknown>) => p.then(() => 'resolved', (e: DeferralError) => e.code);

  it('delays a job by countdown: delayed first, then run no earlier than asked', async () => {
    h = await setup('sqlite');
    const a = await account();
    const started = Date.now();
    const job = await DeferredType({ countdown: 1 })(a, h.dataSource, 1, 'deposit', 1);
    expect(await job.state()).toBe('delayed');
    expect(await job.result({ timeoutMs: 10_000 })).toBe(1);
    const snap = await job.snapshot();
    expect(snap.startedAt!.getTime() - started).toBeGreaterThanOrEqual(950);
  });

  it('delays a job until an eta given as ISO string; an eta in the past runs now', async () => {
    h = await setup('sqlite');
    const a = await account();
    const later = await DeferredType({ eta: new Date(Date.now() + 800).toISOString() })(a, h.dataSource, 1, 'deposit', 1);
    const past = await DeferredType({ eta: Date.now() - 60_000 })(a, h.dataSource, 1, 'deposit', 1);
    expect(await later.state()).toBe('delayed');
    expect(await past.result({ timeoutMs: 10_000 })).toBe(1);
    expect(await later.result({ timeoutMs: 10_000 })).toBe(2);
  });

  it('reports progress while the job runs and 100 % at the end', async () => {
    h = await setup('sqlite');
    const a = await account();
    const job = await Deferred(a, h.dataSource, 1, 'countTo', 5, 150);
    const seen = new Set<number>();
    while ((await job.state()) !== 'completed') {
      seen.add((await job.progress()).percent);
      await new Promise((r) => setTimeout(r, 60));
    }
    expect([...seen].filter((p) => p > 0 && p < 100).length).toBeGreaterThanOrEqual(2);
    expect(await job.progress()).toEqual({ percent: 100, message: 'step 5 of 5' });
  });

  it('cancels a delayed job: it never runs, state() is cancelled and result() rejects with DEFER_ERR_CANCELLED', async () => {
    h = await setup('sqlite');
    const a = await account();
    const job = await DeferredType({ countdown: 0.5 })(a, h.dataSource, 1, 'deposit', 5);
    expect(await job.cancel()).toBe(true);
    expect(await job.state()).toBe('cancelled');
    expect(await codeOf(job.result({ timeoutMs: 2_000 }))).toBe('DEFER_ERR_CANCELLED');
    expect((await getJob(job.id))?.queue).toBe('default');
    await new Promise((r) => setTimeout(r, 800));
    expect((await h.dataSource.manager.findOneByOrFail(Account, { id: a.id })).balance).toBe(0);
  });

  it('cancels a running job: its signal is aborted, it ends as cancelled, and a finished job cannot be cancelled', async () => {
    h = await setup('sqlite');
    const a = await account();
    const job = await Deferred(a, h.dataSource, 1, 'wait', 10_000);
    while ((await job.state()) !== 'active') await new Promise((r) => setTimeout(r, 20));
    const started = Date.now();
    expect(await job.cancel()).toBe(true);
    expect(await codeOf(job.result({ timeoutMs: 5_000 }))).toBe('DEFER_ERR_CANCELLED');
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(await job.state()).toBe('cancelled');
    expect((await job.snapshot()).error?.code).toBe('DEFER_ERR_CANCELLED');
    expect(await job.cancel()).toBe(false);
    const done = await Deferred(a, h.dataSource, 1, 'deposit', 1);
    await done.result({ timeoutMs: 5_000 });
    expect(await done.cancel()).toBe(false);
  });

  it('a cancelled job that ignores its signal is stopped anyway and its writes roll back', async () => {
    h = await setup('sqlite');
    const a = await account();
    const job = await Deferred(a, h.dataSource, 1, 'depositThenSleep', 50, 3_000);
    while ((await job.state()) !== 'active') await new Promise((r) => setTimeout(r, 20));
    await new Promise((r) => setTimeout(r, 200));
    expect(await job.cancel()).toBe(true);
    expect(await codeOf(job.result({ timeoutMs: 5_000 }))).toBe('DEFER_ERR_CANCELLED');
    expect((await h.dataSource.manager.findOneByOrFail(Account, { id: a.id })).balance).toBe(0);
  });

  it('a worker closing past its grace period hands the running job back; another worker completes it', async () => {
    h = await setup('sqlite', {}, false);
    const a = await account();
    const first = await h.startWorker({ shutdownTimeoutMs: 200 });
    const job = await Deferred(a, h.dataSource, 1, 'wait', 1_500);
    while ((await job.state()) !== 'active') await new Promise((r) => setTimeout(r, 20));
    await first.close();
    expect(['waiting', 'delayed']).toContain(await job.state());
    await h.startWorker();
    expect(await job.result({ timeoutMs: 10_000 })).toBe('waited');
    expect((await job.snapshot()).attemptsMade).toBe(1);
  });

  it('deduplicates calls with the same jobId', async () => {
    h = await setup('sqlite', {}, false);
    const a = await account();
    const Once = DeferredType({ jobId: 'monthly-close-2026-11', countdown: 60 });
    const first = await Once(a, h.dataSource, 1, 'deposit', 1);
    const second = await Once(a, h.dataSource, 1, 'deposit', 1);
    expect(second.id).toBe(first.id);
    const counts = await (await import('../../src/queues.js')).producerQueue('default').getJobCounts('delayed');
    expect(counts.delayed).toBe(1);
  });

  it('result({ timeoutMs }) rejects with DEFER_ERR_TIMEOUT; getJob() of an unknown id is undefined; result() of a vanished job is DEFER_ERR_JOB_NOT_FOUND', async () => {
    h = await setup('sqlite', {}, false);
    const a = await account();
    const job = await Deferred(a, h.dataSource, 1, 'deposit', 1);
    expect(await codeOf(job.result({ timeoutMs: 100 }))).toBe('DEFER_ERR_TIMEOUT');
    expect(await getJob('no-such-job')).toBeUndefined();
    expect(await getJob('bad:id')).toBeUndefined();
    const queues = await import('../../src/queues.js');
    await (await queues.producerQueue('default').getJob(job.id))!.remove();
    expect(await codeOf(job.result({ timeoutMs: 1_000 }))).toBe('DEFER_ERR_JOB_NOT_FOUND');
  });

  it('after closeDeferred() a handle fails with DEFER_ERR_NOT_CONFIGURED instead of reopening Redis', async () => {
    h = await setup('sqlite', {}, false);
    const a = await account();
    const job = await DeferredType({ countdown: 60 })(a, h.dataSource, 1, 'deposit', 1);
    const waiting = job.result();
    await closeDeferred();
    expect(await codeOf(waiting)).toBe('DEFER_ERR_NOT_CONFIGURED');
    expect(await codeOf(job.state())).toBe('DEFER_ERR_NOT_CONFIGURED');
    expect(await codeOf(getJob(job.id))).toBe('DEFER_ERR_NOT_CONFIGURED');
  });

  it('snapshot() never reports a finished state without its result or error, even while jobs finish', async () => {
    h = await setup('sqlite');
    const a = await account();
    for (let round = 0; round < 10; round++) {
      const job = await Deferred(a, h.dataSource, 1, 'countTo', 2, 15);
      for (;;) {
        const snap = await job.snapshot();
        if (snap.state === 'completed') {
          expect(snap.result).toBe(2);
          expect(snap.finishedAt).toBeInstanceOf(Date);
          break;
        }
      }
    }
  });
});
