import { afterEach, describe, expect, it } from 'vitest';
import { defineTask, DeferredType, processNextJob, submitTask, takeTask } from '../../src/index.js';
import { failure } from '../assert.js';
import { Account } from '../fixtures/entities.js';
import { DB_KINDS, setup, type Harness } from '../helpers.js';

const log: number[] = [];
const logged = defineTask('test-log', (n: number) => {
  log.push(n);
  return n;
});
const flaky = defineTask('test-flaky-once', (_: null, ctx) => {
  if (ctx.attempt === 1) throw new Error('first attempt fails');
  return ctx.attempt;
});

describe.each(DB_KINDS)('pulling jobs by hand (processNextJob, takeTask) on %s', (kind) => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.cleanup();
    h = undefined;
    log.length = 0;
  });

  it('seed 001: four jobs, one processed by hand, then the rest by a worker started afterwards, in the order they were added', async () => {
    h = await setup(kind, {}, false);
    const jobs = [];
    for (const n of [1, 2, 3, 4]) jobs.push(await submitTask(logged, n));
    expect(await processNextJob()).toBe(true);
    expect(log).toEqual([1]);
    expect(await jobs[0]!.state()).toBe('completed');
    await h.startWorker({ relay: false });
    await Promise.all(jobs.map((j) => j.result({ timeoutMs: 10_000 })));
    expect(log).toEqual([1, 2, 3, 4]);
  });

  it('processNextJob runs deferred calls through the worker pipeline, retries included, and says false when nothing waits', async () => {
    h = await setup(kind, {}, false);
    expect(await processNextJob()).toBe(false);
    const a = await h.dataSource.manager.save(h.dataSource.manager.create(Account, { name: 'p', balance: 1, note: null }));
    const call = await DeferredType({ queue: 'low' })(a, h.dataSource, 'ann', 'deposit', 4);
    const later = await DeferredType({ countdown: 60 })(a, h.dataSource, 'ann', 'deposit', 1);
    const retried = await submitTask(flaky, null, { attempts: 2 });
    // Priority order: default before low; the delayed job waits for its time.
    expect(await processNextJob({ queues: ['low'] })).toBe(true);
    expect(await call.result({ timeoutMs: 1_000 })).toBe(5);
    expect(await processNextJob()).toBe(true);
    expect(await retried.state()).toBe('waiting');
    expect(await processNextJob()).toBe(true);
    expect(await retried.result({ timeoutMs: 1_000 })).toBe(2);
    expect(await processNextJob()).toBe(false);
    expect(await later.state()).toBe('delayed');
    expect((await failure(processNextJob({ queues: ['urgent' as never] }))).code).toBe('DEFER_ERR_INVALID_OPTION');
  });

  it('takeTask hands the next task to a consumer outside the worker; complete and fail reach the job handle', async () => {
    h = await setup(kind, {}, false);
    const done = await submitTask('test-external', { to: 'ann@example.com' }, { uid: 7 });
    const refused = await submitTask('test-external', { to: 'nobody' });
    const first = (await takeTask('default'))!;
    expect(first).toMatchObject({ id: done.id, name: 'test-external', payload: { to: 'ann@example.com' }, uid: 7 });
    await first.complete({ sent: true });
    expect(await done.result({ timeoutMs: 1_000 })).toEqual({ sent: true });
    const second = (await takeTask('default'))!;
    await second.fail(new Error('no such mailbox'));
    const err = await failure(refused.result({ timeoutMs: 1_000 }));
    expect([err.code, err.details.remoteMessage]).toEqual(['DEFER_ERR_JOB_FAILED', 'no such mailbox']);
    expect(await takeTask('default')).toBeUndefined();
  });

  it('takeTask waits up to timeoutMs for a task to arrive', async () => {
    h = await setup(kind, {}, false);
    expect(await takeTask('high', { timeoutMs: 200 })).toBeUndefined();
    const waiting = takeTask('high', { timeoutMs: 5_000 });
    const job = await submitTask('test-external', 1, { queue: 'high' });
    const task = (await waiting)!;
    expect(task.id).toBe(job.id);
    await task.complete();
  });

  it('a taken task that is neither completed nor failed goes back to its queue when its lock expires (at least once)', async () => {
    h = await setup(kind, {}, false);
    const job = await submitTask(logged, 9);
    const abandoned = (await takeTask('default', { lockMs: 1_000 }))!;
    expect(abandoned.id).toBe(job.id);
    await h.startWorker({ relay: false, stalledIntervalMs: 300 });
    expect(await job.result({ timeoutMs: 15_000 })).toBe(9);
    expect(log).toEqual([9]);
  });
});
