import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import {
  defineTask, Deferred, DeferredType, EntityRef, HighPriorityDeferred, registerRepository, reportProgress, submitTask,
} from '../../src/index.js';
import { fakeQueues, type FakeQueues } from '../../testing/index.js';
import { failure } from '../assert.js';
import { Account } from '../fixtures/entities.js';
import { DB_KINDS, REDIS_URL, setup, type Harness } from '../helpers.js';

const Accounts = registerRepository(Account, (base) => base.extend({
  async rename(this: typeof base, from: string, to: string): Promise<number> {
    return (await this.update({ name: from }, { name: to })).affected ?? 0;
  },
}), { name: 'FakeQueuesAccounts' });
const welcome = defineTask('test-fake-welcome', async ({ name }: { name: string }, ctx) => {
  reportProgress({ progress: 1, valuemax: 2, message: 'writing' });
  const saved = await ctx.manager.save(ctx.manager.create(Account, { name, balance: 0, note: 'welcomed' }));
  return { id: saved.id, uid: ctx.uid, attempt: ctx.attempt };
});
const chained = defineTask('test-fake-chained', async (n: number) => {
  await submitTask(welcome, { name: `chained ${n}` }, { allowNested: true, db: 'main' });
  return n;
});

/** The Redis keys under a prefix. */
async function keysUnder(prefix: string): Promise<string[]> {
  const redis = new Redis(REDIS_URL);
  try {
    return await redis.keys(`${prefix}*`);
  } finally {
    redis.disconnect();
  }
}

describe.each(DB_KINDS)('fakeQueues (typeorm-deferred/testing) on %s', (kind) => {
  let h: Harness | undefined;
  let fake: FakeQueues | undefined;
  afterEach(async () => {
    fake?.restore();
    fake = undefined;
    await h?.cleanup();
    h = undefined;
  });
  const account = (name: string, balance: number) => h!.dataSource.manager.save(h!.dataSource.manager.create(Account, { name, balance, note: null }));

  it('records Deferred on a class, a record, an array and a repository, a variant and submitTask, and writes nothing to Redis', async () => {
    h = await setup(kind, {}, false);
    const [a, b] = [await account('a', 1), await account('b', 2)];
    fake = fakeQueues();
    const byClass = await Deferred(Account, h.dataSource, 'ann', 'totalBalance');
    await Deferred(a, 'main', 'ann', 'transfer', b, 5);
    await Deferred([a, b], h.dataSource.manager, 7, 'deposit', 3);
    await Deferred(Accounts(h.dataSource), 'main', 'ann', 'rename', 'a', 'z');
    await DeferredType({ queue: 'low', countdown: 60, attempts: 3 })(a, 'main', 'ann', 'deposit', 1);
    const task = await submitTask(welcome, { name: 'bo' }, { uid: 'bo', db: 'main' });
    expect(fake.calls.map((c) => [c.call, c.kind, c.queue, c.uid])).toEqual([
      ['Account.totalBalance', 'model', 'default', 'ann'],
      ['Account.transfer', 'records', 'default', 'ann'],
      ['Account.deposit', 'records', 'default', 7],
      ['FakeQueuesAccounts.rename', 'repository', 'default', 'ann'],
      ['Account.deposit', 'records', 'low', 'ann'],
      ['test-fake-welcome', 'task', 'default', 'bo'],
    ]);
    expect(fake.calls[1]).toMatchObject({ model: 'Account', method: 'transfer', ids: [{ id: a.id }], args: [new EntityRef('Account', { id: b.id }), 5], dataSource: 'main' });
    expect(fake.calls[2]!.ids).toEqual([{ id: a.id }, { id: b.id }]);
    expect(fake.calls[4]!.options).toMatchObject({ countdown: 60, attempts: 3 });
    expect(fake.calls[5]).toMatchObject({ model: 'test-fake-welcome', method: 'run', args: [{ name: 'bo' }], task: { name: 'test-fake-welcome', payload: { name: 'bo' } } });
    expect([byClass.id, task.id]).toEqual([fake.calls[0]!.id, fake.calls[5]!.id]);
    expect([await byClass.state(), await task.state()]).toEqual(['waiting', 'waiting']);
    expect(await keysUnder(h.prefix)).toEqual([]);
  });

  it('assertDeferred matches by entity class or name, record, repository or task, method and predicate; it fails listing what was recorded', async () => {
    h = await setup(kind, {}, false);
    const a = await account('a', 1);
    fake = fakeQueues();
    fake.assertNothingDeferred();
    await HighPriorityDeferred(a, 'main', 'ann', 'deposit', 5);
    await Deferred(Accounts, 'main', 'ann', 'rename', 'a', 'z');
    await submitTask(welcome, { name: 'bo' });
    expect(fake.assertDeferred(Account, 'deposit').args).toEqual([5]);
    fake.assertDeferred('Account', 'deposit', (c) => c.args[0] === 5 && c.queue === 'high');
    fake.assertDeferred(a, 'deposit');
    fake.assertDeferred([a], 'deposit');
    fake.assertDeferred(Accounts, 'rename');
    fake.assertDeferred(Accounts(h.dataSource), 'rename', (c) => c.args[1] === 'z');
    fake.assertDeferred(Account);
    fake.assertDeferred(welcome);
    fake.assertDeferred(welcome, 'run');
    fake.assertDeferred('test-fake-welcome', (c) => (c.task?.payload as { name: string }).name === 'bo');
    expect(() => fake!.assertDeferred(Account, 'deposit', (c) => c.args[0] === 6)).toThrow(
      `Expected a deferred call of Account.deposit matching the predicate, but none was recorded.
Recorded calls (3):
  1. Account.deposit on {"id":${a.id}} args [5] (queue high, uid "ann")
  2. FakeQueuesAccounts.rename args ["a","z"] (queue default, uid "ann")
  3. test-fake-welcome args [{"name":"bo"}] (queue default, uid "system")`);
    expect(() => fake!.assertDeferred(Account, 'transfer')).toThrow('Expected a deferred call of Account.transfer, but none was recorded.');
    // A task is not an entity of the same name, nor the other way round.
    expect(() => fake!.assertDeferred(Accounts, 'deposit')).toThrow('FakeQueuesAccounts.deposit');
    expect(() => fake!.assertNothingDeferred()).toThrow(/^Expected nothing to be deferred, but 3 call\(s\) were\.\nRecorded calls \(3\):\n {2}1\. Account\.deposit/);
    expect(() => fake!.assertDeferred(42 as never, 'x')).toThrow(expect.objectContaining({ code: 'DEFER_ERR_INVALID_OPTION' }));
  });

  it('checks calls as usual before recording them: a bad call throws and nothing is recorded', async () => {
    h = await setup(kind, {}, false);
    fake = fakeQueues();
    const unsaved = h.dataSource.manager.create(Account, { name: 'x', balance: 0, note: null });
    expect((await failure(Deferred(unsaved, 'main', 'ann', 'deposit', 1))).code).toBe('DEFER_ERR_UNSAVED_RECORD');
    expect((await failure(Deferred(Account, 'main', 'ann', 'notMarkedStatic' as never))).code).toBe('DEFER_ERR_METHOD_NOT_DEFERRABLE');
    expect((await failure(Deferred(Account, 'main', 'ann', 'totalBalance', () => 1)))).toMatchObject({ code: 'DEFER_ERR_UNSERIALIZABLE_ARGUMENT' });
    fake.assertNothingDeferred();
  });

  it('runRecorded runs the calls in this process against the database, with the job context, and the handles report the outcome', async () => {
    h = await setup(kind, {}, false);
    const a = await account('a', 10);
    fake = fakeQueues();
    const deposit = await Deferred(a, 'main', 'ann', 'deposit', 5);
    const waiting = deposit.result();
    const failing = await Deferred(a, 'main', 'ann', 'depositThenFail', 100, 'no funds today');
    const who = await DeferredType({ queue: 'low' })(a, 'main', 'zoe', 'whoAmI');
    const task = await submitTask(welcome, { name: 'bo' }, { db: h.dataSource, uid: 'bo' });
    expect(await deposit.snapshot()).toMatchObject({ state: 'waiting', attemptsMade: 0 });
    const outcomes = await fake.runRecorded();
    expect(outcomes).toEqual([
      { id: deposit.id, queue: 'default', call: 'Account.deposit', attempt: 1, state: 'completed', result: 15 },
      { id: failing.id, queue: 'default', call: 'Account.depositThenFail', attempt: 1, state: 'failed', error: { message: 'no funds today' } },
      { id: who.id, queue: 'low', call: 'Account.whoAmI', attempt: 1, state: 'completed', result: { uid: 'zoe', queue: 'low', attempt: 1, jobId: who.id } },
      { id: task.id, queue: 'default', call: 'test-fake-welcome', attempt: 1, state: 'completed', result: expect.objectContaining({ uid: 'bo', attempt: 1 }) },
    ]);
    expect(await waiting).toBe(15);
    // The failed call rolled back: the balance is the deposit's.
    expect((await h.dataSource.manager.findOneByOrFail(Account, { id: a.id })).balance).toBe(15);
    expect(await h.dataSource.manager.countBy(Account, { name: 'bo', note: 'welcomed' })).toBe(1);
    const err = await failure(failing.result());
    expect([err.code, err.details.remoteMessage]).toEqual(['DEFER_ERR_JOB_FAILED', 'no funds today']);
    expect(await failing.snapshot()).toMatchObject({ state: 'failed', attemptsMade: 1, error: { message: 'no funds today' } });
    expect(await task.snapshot()).toMatchObject({ state: 'completed', percent: 100, message: 'writing', name: 'test-fake-welcome', uid: 'bo' });
    expect(await fake.runRecorded()).toEqual([]);
    expect(await keysUnder(h.prefix)).toEqual([]);
  });

  it('runRecorded runs calls recorded while it runs (allowNested), keeps inline nested calls inline, skips cancelled ones, and reports codes', async () => {
    h = await setup(kind, { authorize: (uid) => uid !== 'mallory' }, false);
    const a = await account('a', 0);
    fake = fakeQueues();
    const cancelled = await Deferred(a, 'main', 'ann', 'deposit', 1000);
    await submitTask(chained, 1);
    await Deferred(a, 'main', 'ann', 'nestedDeposit', 2, false);
    await Deferred(a, 'main', 'mallory', 'deposit', 50);
    expect(await cancelled.cancel()).toBe(true);
    const outcomes = await fake.runRecorded();
    expect(outcomes.map((o) => [o.call, o.state, o.error?.code])).toEqual([
      ['test-fake-chained', 'completed', undefined],
      ['Account.nestedDeposit', 'completed', undefined],
      ['Account.deposit', 'failed', 'DEFER_ERR_NOT_AUTHORIZED'],
      ['test-fake-welcome', 'completed', undefined],
    ]);
    expect(fake.calls.map((c) => c.call)).toEqual(['Account.deposit', 'test-fake-chained', 'Account.nestedDeposit', 'Account.deposit', 'test-fake-welcome']);
    expect(outcomes[1]!.result).toMatchObject({ state: 'completed', value: 2, sameJob: true });
    expect(await cancelled.state()).toBe('cancelled');
    expect((await h.dataSource.manager.findOneByOrFail(Account, { id: a.id })).balance).toBe(2);
  });

  it('needs no Redis at all', async () => {
    h = await setup(kind, { connection: 'redis://127.0.0.1:1' }, false);
    const a = await account('a', 1);
    fake = fakeQueues();
    const job = await Deferred(a, 'main', 'ann', 'deposit', 2);
    expect(await fake.runRecorded()).toMatchObject([{ state: 'completed', result: 3 }]);
    expect(await job.result({ timeoutMs: 100 })).toBe(3);
  });

  it('restore() puts the real queues back; a second fake stacks over the first until it is restored', async () => {
    h = await setup(kind, {}, false);
    const a = await account('a', 1);
    fake = fakeQueues();
    const inner = fakeQueues();
    await Deferred(a, 'main', 'ann', 'deposit', 1);
    expect([fake.calls.length, inner.calls.length]).toEqual([0, 1]);
    inner.restore();
    inner.restore();
    await Deferred(a, 'main', 'ann', 'deposit', 2);
    expect([fake.calls.length, inner.calls.length]).toEqual([1, 1]);
    fake.restore();
    const real = await Deferred(a, 'main', 'ann', 'deposit', 3);
    expect(await real.state()).toBe('waiting');
    expect(fake.calls).toHaveLength(1);
    expect(await keysUnder(h.prefix)).not.toEqual([]);
  });
});
