import { afterEach, describe, expect, it } from 'vitest';
import { defineTask, Deferred, DeferralError, DeferredJobRecord, DeferredType, schedule, submitTask } from '../../src/index.js';
import { drainQueues } from '../../testing/index.js';
import { failure } from '../assert.js';
import { Account, ENTITIES } from '../fixtures/entities.js';
import { DB_KINDS, setup, type Harness } from '../helpers.js';

const ran: string[] = [];
const child = defineTask('test-drain-child', (n: number) => {
  ran.push(`child ${n}`);
  return n * 2;
});
// Enqueues a real job from inside a job (allowNested): the drain must run it too.
const parent = defineTask('test-drain-parent', async (n: number) => {
  ran.push(`parent ${n}`);
  const job = await submitTask(child, n + 1, { allowNested: true, queue: 'low' });
  return job.id;
});
const flaky = defineTask('test-drain-flaky', (_: null, ctx) => {
  if (ctx.attempt === 1) throw new Error('first attempt fails');
  return ctx.attempt;
});
const coded = defineTask('test-drain-coded', () => {
  throw new DeferralError('DEFER_ERR_RECORD_NOT_FOUND', 'the invoice is gone', {});
});
const forever = defineTask('test-drain-forever', (n: number) => submitTask('test-drain-forever', n + 1, { allowNested: true }).then(() => n));

describe.each(DB_KINDS)('drainQueues (typeorm-deferred/testing) on %s', (kind) => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.cleanup();
    h = undefined;
    ran.length = 0;
  });
  const account = (balance: number) => h!.dataSource.manager.save(h!.dataSource.manager.create(Account, { name: 'a', balance, note: null }));

  it('runs every waiting job in priority order, and the jobs they enqueue, and returns their outcomes in the order they ran', async () => {
    h = await setup(kind, {}, false);
    const a = await account(10);
    await submitTask(parent, 1);
    const deposit = await DeferredType({ queue: 'high' })(a, h.dataSource, 'ann', 'deposit', 5);
    const outcomes = await drainQueues();
    expect(outcomes).toMatchObject([
      { id: deposit.id, queue: 'high', call: 'Account.deposit', attempt: 1, state: 'completed', result: 15 },
      { queue: 'default', call: 'test-drain-parent', state: 'completed' },
      { queue: 'low', call: 'test-drain-child', state: 'completed', result: 4 },
    ]);
    expect(outcomes[2]!.id).toBe(outcomes[1]!.result);
    expect(ran).toEqual(['parent 1', 'child 2']);
    expect((await h.dataSource.manager.findOneByOrFail(Account, { id: a.id })).balance).toBe(15);
    expect(await deposit.state()).toBe('completed');
    expect(await drainQueues()).toEqual([]);
  });

  it('reports failures with their code, and each attempt of a retried job as an outcome of its own', async () => {
    h = await setup(kind, {}, false);
    const a = await account(1);
    const retried = await submitTask(flaky, null, { attempts: 2 });
    const bad = await submitTask(coded, undefined as never);
    const rolledBack = await Deferred(a, 'main', 'ann', 'depositThenFail', 100, 'no funds today');
    const outcomes = await drainQueues();
    expect(outcomes).toEqual([
      { id: retried.id, queue: 'default', call: 'test-drain-flaky', attempt: 1, state: 'waiting', error: { message: 'first attempt fails' } },
      { id: bad.id, queue: 'default', call: 'test-drain-coded', attempt: 1, state: 'failed', error: { message: 'the invoice is gone', code: 'DEFER_ERR_RECORD_NOT_FOUND' } },
      { id: rolledBack.id, queue: 'default', call: 'Account.depositThenFail', attempt: 1, state: 'failed', error: { message: 'no funds today' } },
      { id: retried.id, queue: 'default', call: 'test-drain-flaky', attempt: 2, state: 'completed', result: 2 },
    ]);
    expect((await h.dataSource.manager.findOneByOrFail(Account, { id: a.id })).balance).toBe(1);
  });

  it('leaves delayed jobs (countdown, retries with a backoff) for their time, and runs them at once with includeDelayed', async () => {
    h = await setup(kind, {}, false);
    const later = await submitTask(child, 10, { countdown: 3600 });
    const backedOff = await submitTask(flaky, null, { attempts: 2, backoff: 3_600_000 });
    expect(await drainQueues()).toMatchObject([{ id: backedOff.id, attempt: 1, state: 'delayed', error: { message: 'first attempt fails' } }]);
    expect([await later.state(), await backedOff.state()]).toEqual(['delayed', 'delayed']);
    const outcomes = await drainQueues({ includeDelayed: true });
    expect(outcomes.map((o) => [o.id, o.state, o.result])).toEqual(expect.arrayContaining([[later.id, 'completed', 20], [backedOff.id, 'completed', 2]]));
    expect(outcomes).toHaveLength(2);
  });

  it('runs a schedule\'s due job; with includeDelayed its next tick once, not tick after tick', async () => {
    h = await setup(kind, {}, false);
    await schedule('drain-daily', { cron: '0 3 * * *' }, { task: child, payload: 4 });
    await schedule('drain-often', { every: 60_000 }, { task: child, payload: 5 });
    // The `every` schedule's first job is due at once; the daily one's is not.
    expect((await drainQueues()).map((o) => [o.id.split(':')[1], o.result])).toEqual([['drain-often', 10]]);
    const outcomes = await drainQueues({ includeDelayed: true });
    expect(outcomes.map((o) => o.id.split(':')[1]).sort()).toEqual(['drain-daily', 'drain-often']);
    expect(outcomes.map((o) => o.state)).toEqual(['completed', 'completed']);
  });

    it('with the job table, runs jobs recorded in a transaction once it commits, and the rows agree with the outcomes', async () => {
    h = await setup(kind, {}, false, { entities: [...ENTITIES, DeferredJobRecord] });
    const a = await account(1);
    const job = await h.dataSource.transaction((manager) => Deferred(a, manager, 'ann', 'deposit', 2));
    const bad = await submitTask(coded, undefined as never, { db: 'main' });
    expect(await drainQueues()).toMatchObject([
      { id: job.id, state: 'completed', result: 3 },
      { id: bad.id, state: 'failed', error: { code: 'DEFER_ERR_RECORD_NOT_FOUND' } },
    ]);
    const rows = await h.dataSource.manager.find(DeferredJobRecord, { order: { createdAt: 'ASC' } });
    expect(Object.fromEntries(rows.map((r) => [r.id, r.state]))).toEqual({ [job.id]: 'completed', [bad.id]: 'failed' });
  });

  it('drains only the queues it is given', async () => {
    h = await setup(kind, {}, false);
    const low = await submitTask(child, 1, { queue: 'low' });
    const high = await submitTask(child, 2, { queue: 'high' });
    expect((await drainQueues({ queues: ['low'] })).map((o) => o.id)).toEqual([low.id]);
    expect(await high.state()).toBe('waiting');
  });

  it('stops with DEFER_ERR_INVALID_OPTION when the queues do not drain within maxAttempts, and checks its options', async () => {
    h = await setup(kind, {}, false);
    await submitTask(forever, 0);
    const err = await failure(drainQueues({ maxAttempts: 5 }));
    expect(err.code).toBe('DEFER_ERR_INVALID_OPTION');
    expect(err.message).toContain('did not drain within maxAttempts (5)');
    expect((err.details.outcomes as unknown[]).length).toBe(5);
    expect((await failure(drainQueues({ queues: ['urgent' as never] }))).code).toBe('DEFER_ERR_INVALID_OPTION');
    expect((await failure(drainQueues({ includeDelayed: 'yes' as never }))).message).toBe('Invalid drainQueues option includeDelayed: "yes" is not a boolean');
    expect((await failure(drainQueues({ delayed: true } as never))).message).toContain('Invalid drainQueues option delayed');
  });
});
