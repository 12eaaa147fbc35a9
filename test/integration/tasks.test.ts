import Fastify from 'fastify';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { dashboardPlugin } from '../../dashboard/index.js';
import { defineTask, DeferredJobRecord, isQueuePaused, reportProgress, submitTask, type StandardSchemaV1 } from '../../src/index.js';
import { producerQueue } from '../../src/queues.js';
import { failure, thrown } from '../assert.js';
import { Account, ENTITIES } from '../fixtures/entities.js';
import { DB_KINDS, setup, type Harness } from '../helpers.js';

const add = defineTask('test-add', async ({ a, b }: { a: number; b: number }) => {
  reportProgress({ progress: 1, valuemax: 2, message: 'adding' });
  return a + b;
});
const openAccount = defineTask('test-open-account', async ({ name, fail }: { name: string; fail?: boolean }, ctx) => {
  const saved = await ctx.manager.save(ctx.manager.create(Account, { name, balance: 0, note: null }));
  if (fail) throw new Error(`refused ${name} after saving it`);
  return { id: saved.id, uid: ctx.uid, queue: ctx.queue };
}, { queue: 'high' });
const checked = defineTask('test-checked', ({ n }: { n: number }) => n * 2, {
  validate: (p) => {
    if (typeof (p as { n?: unknown })?.n !== 'number') throw new Error('n must be a number');
    return p as { n: number };
  },
});
// A Standard Schema as zod or valibot make one.
const schema: StandardSchemaV1<unknown, { email: string }> = {
  '~standard': {
    version: 1, vendor: 'test',
    validate: (v) => (typeof (v as { email?: unknown })?.email === 'string' && (v as { email: string }).email.includes('@')
      ? { value: v as { email: string } }
      : { issues: [{ message: 'not an email', path: ['email'] }] }),
  },
};
const withSchema = defineTask('test-schema', ({ email }: { email: string }) => email.toUpperCase(), { validate: schema });

describe.each(DB_KINDS)('named tasks (defineTask, submitTask) on %s', (kind) => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.cleanup();
    h = undefined;
  });

  it('a task runs in the worker from the same queues as deferred calls, with the same handle: progress and typed result', async () => {
    h = await setup(kind);
    const job = await submitTask(add, { a: 2, b: 3 });
    expect(job.queue).toBe('default');
    const n: number = await job.result({ timeoutMs: 10_000 });
    expect(n).toBe(5);
    expect(await job.snapshot()).toMatchObject({ state: 'completed', name: 'test-add', percent: 100, message: 'adding', uid: 'system' });
  });

  it('with db, ctx.manager runs in a transaction: the handler\'s writes commit with it, or roll back when it throws', async () => {
    h = await setup(kind);
    const ok = await submitTask(openAccount, { name: 'kept' }, { db: h.dataSource, uid: 'ann' });
    expect(ok.queue).toBe('high');
    const { id, uid, queue } = await ok.result({ timeoutMs: 10_000 });
    expect([uid, queue]).toEqual(['ann', 'high']);
    expect((await h.dataSource.manager.findOneByOrFail(Account, { id })).name).toBe('kept');
    const bad = await submitTask(openAccount, { name: 'dropped', fail: true }, { db: 'main' });
    expect((await failure(bad.result({ timeoutMs: 10_000 }))).message).toContain('refused dropped after saving it');
    expect(await h.dataSource.manager.countBy(Account, { name: 'dropped' })).toBe(0);
  });

  it('an unknown task fails with DEFER_ERR_UNKNOWN_TASK on its first attempt, and the worker keeps serving', async () => {
    h = await setup(kind);
    const unknown = await submitTask('test-nobody-defines-this', { x: 1 }, { attempts: 3 });
    const err = await failure(unknown.result({ timeoutMs: 10_000 }));
    expect([err.code, err.details.remoteCode]).toEqual(['DEFER_ERR_JOB_FAILED', 'DEFER_ERR_UNKNOWN_TASK']);
    expect((await producerQueue('default').getJob(unknown.id))!.attemptsMade).toBe(1);
    expect(await (await submitTask(add, { a: 1, b: 1 })).result({ timeoutMs: 10_000 })).toBe(2);
  });

  it('a payload that fails validation is refused at submitTask with DEFER_ERR_INVALID_PAYLOAD, and nothing is queued', async () => {
    h = await setup(kind, {}, false);
    const byFunction = await failure(submitTask(checked, { n: 'two' } as never));
    expect([byFunction.code, byFunction.message]).toEqual(['DEFER_ERR_INVALID_PAYLOAD', 'Invalid payload for task "test-checked": n must be a number']);
    const bySchema = await failure(submitTask(withSchema, { email: 'nobody' }));
    expect([bySchema.code, bySchema.message]).toEqual(['DEFER_ERR_INVALID_PAYLOAD', 'Invalid payload for task "test-schema": email: not an email']);
    // By name, the local definition validates too.
    expect((await failure(submitTask('test-checked', {}))).code).toBe('DEFER_ERR_INVALID_PAYLOAD');
    expect(await producerQueue('default').count()).toBe(0);
    expect(await (await submitTask(withSchema, { email: 'a@b' })).state()).toBe('waiting');
  });

  it('the worker validates again: a payload changed in Redis fails with DEFER_ERR_INVALID_PAYLOAD, not retried', async () => {
    h = await setup(kind, {}, false);
    const job = await submitTask(checked, { n: 2 }, { attempts: 3 });
    const bull = (await producerQueue('default').getJob(job.id))!;
    await bull.updateData({ ...bull.data, args: { json: [{ n: 'forged' }] } });
    await h.startWorker({ relay: false });
    const err = await failure(job.result({ timeoutMs: 10_000 }));
    expect(err.details.remoteCode).toBe('DEFER_ERR_INVALID_PAYLOAD');
    expect((await producerQueue('default').getJob(job.id))!.attemptsMade).toBe(1);
  });

  it('with an EntityManager in a transaction, the task is pushed after the commit and recorded in the job table; a rollback drops it', async () => {
    h = await setup(kind, {}, {}, { entities: [...ENTITIES, DeferredJobRecord] });
    const job = await h.dataSource.transaction((manager) => submitTask(add, { a: 20, b: 22 }, { db: manager }));
    expect(await job.result({ timeoutMs: 10_000 })).toBe(42);
    expect(await h.dataSource.manager.findOneByOrFail(DeferredJobRecord, { id: job.id })).toMatchObject({ model: 'test-add', method: 'run', state: 'completed' });
    let dropped: string | undefined;
    await h.dataSource.transaction(async (manager) => {
      dropped = (await submitTask(add, { a: 1, b: 1 }, { db: manager })).id;
      throw new Error('roll back');
    }).catch(() => undefined);
    expect(await h.dataSource.manager.countBy(DeferredJobRecord, { id: dropped! })).toBe(0);
    expect(await producerQueue('default').getJob(dropped!)).toBeUndefined();
  });

  it('refuses a task name or handler that cannot be used, and an unknown queue, with DEFER_ERR_INVALID_OPTION', () => {
    for (const make of [() => defineTask('', () => 1), () => defineTask('x\ny', () => 1), () => defineTask('ok', 1 as never), () => defineTask('ok', () => 1, { queue: 'urgent' as never })]) {
      expect(thrown(make).code).toBe('DEFER_ERR_INVALID_OPTION');
    }
  });

  it('a task has what a deferred call has: the job API for its owner, cancel, the call label in metrics, and bull-board\'s pause button pauses its queue', async () => {
    const registry = new Registry();
    h = await setup(kind, { metrics: { registry } }, false);
    const app = h.closeWith(Fastify());
    const ADMIN = 'admin-token-0123456789abcdef';
    const ANN = 'ann-token-0123456789abcdef-x';
    await app.register(dashboardPlugin, { prefix: '/d', tokens: { [ADMIN]: { uid: 'ops', admin: true }, [ANN]: { uid: 'ann' } } });
    const cancelled = await submitTask(add, { a: 1, b: 1 }, { uid: 'ann' });
    const view = await app.inject({ method: 'GET', url: `/d/api/jobs/${cancelled.id}`, headers: { authorization: `Bearer ${ANN}` } });
    expect([view.statusCode, view.json()]).toEqual([200, expect.objectContaining({ name: 'test-add', uid: 'ann', state: 'waiting' })]);
    expect(await cancelled.cancel()).toBe(true);
    expect((await failure(cancelled.result({ timeoutMs: 5_000 }))).code).toBe('DEFER_ERR_CANCELLED');
    const paused = await app.inject({ method: 'PUT', url: '/d/queues/api/queues/default/pause', headers: { authorization: `Bearer ${ADMIN}`, origin: 'http://localhost:80', host: 'localhost:80' } });
    expect(paused.statusCode).toBeLessThan(300);
    expect(await isQueuePaused('default')).toBe(true);
    await app.inject({ method: 'PUT', url: '/d/queues/api/queues/default/resume', headers: { authorization: `Bearer ${ADMIN}`, origin: 'http://localhost:80', host: 'localhost:80' } });
    expect(await isQueuePaused('default')).toBe(false);
    await h.startWorker({ relay: false });
    expect(await (await submitTask(add, { a: 2, b: 2 })).result({ timeoutMs: 10_000 })).toBe(4);
    expect(await registry.metrics()).toMatch(/^deferred_jobs_completed_total\{queue="default",call="test-add"\} 1$/m);
  });
});
